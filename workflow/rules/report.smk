# The cross-study claims report.

# Robustness: the default scale again under the alternate seed set, in its own tree (results/seed_set_1/), by a
# nested run of this workflow (one job per study, all cores). Opt-in: nothing in `all` asks for it. Once a
# study's alternate claims exist, REPORT.md shows both verdicts and whether each claim is stable.
ROBUST_SET = 1
ROBUST_ROOT = repro_seeds.results_root(ROBUST_SET)


def robust_claims(study):
    return f"{ROBUST_ROOT}/{study}/claims.json"


def robust_inputs(wildcards):
    """Alternate-set claims the report shows: those asked for by this run's targets, and those already built."""
    asked = {str(t) for t in workflow.dag_settings.targets}
    return [
        robust_claims(s)
        for s in STUDIES
        if SEED_SET == 0
        and (
            "robustness" in asked
            or f"{s}_robustness" in asked
            or os.path.exists(robust_claims(s))
        )
    ]


rule report:
    input:
        claims=expand(RESULTS + "/{study}/claims.json", study=STUDIES),
        robust=robust_inputs,
        lib=lib("workflow/scripts/report.py"),
    output:
        report=RESULTS + "/REPORT.md",
        # the same claims table as one item of `snakemake --report`, beside the figures
        html=report(
            RESULTS + "/REPORT.html",
            caption="../report/claims.rst",
            category="Claims",
        ),
    log:
        LOGS + "/report.log",
    localrule: True
    conda:
        ENV
    params:
        studies=STUDIES,
        robust_root=ROBUST_ROOT,
    message:
        "Gathering claims of {params.studies} into {output.report} and {output.html}"
    script:
        "../scripts/report.py"


if SEED_SET == 0:

    rule robustness_claims:
        output:
            claims=ROBUST_ROOT + "/{study}/claims.json",
        log:
            LOGS + "/robustness/{study}.log",
        wildcard_constraints:
            study="|".join(STUDY_TARGETS),
        localrule: True
        threads: 1024  # Snakemake caps it at --cores: the nested run gets every core this run has
        params:
            config=config_args(seed_set=ROBUST_SET),
        message:
            "{wildcards.study}: the default scale again under the alternate seed set (a nested run into "
            + ROBUST_ROOT
            + "/)"
        shell:
            "snakemake --nolock --cores {threads} --config {params.config} -- {output.claims} > {log} 2>&1"

    rule robustness:
        input:
            expand(ROBUST_ROOT + "/{study}/claims.json", study=STUDIES),
            RESULTS + "/REPORT.md",

    for _study in STUDY_TARGETS:

        rule:
            name:
                f"{_study}_robustness"
            input:
                robust_claims(_study),
                RESULTS + "/REPORT.md",
