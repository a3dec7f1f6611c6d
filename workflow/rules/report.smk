# The cross-study claims report.


rule report:
    input:
        claims=expand(results_path("{study}/claims.json"), study=STUDIES),
        robust=robust_inputs,
        lib=lib("workflow/scripts/report.py"),
    output:
        report=results_path("REPORT.md"),
        # the same claims table as one item of `snakemake --report`, beside the figures
        html=report(
            results_path("REPORT.html"),
            caption="../report/claims.rst",
            category="Claims",
        ),
    log:
        logs_path("report.log"),
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
        input:
            robust_sources,
        output:
            claims=robust_path("{study}/claims.json"),
        log:
            logs_path("robustness/{study}.log"),
        wildcard_constraints:
            study="|".join(STUDY_TARGETS),
        localrule: True
        conda:
            ENV
        threads: 1024  # Snakemake caps it at --cores: the nested run gets every core this run has
        params:
            config=config_args(seed_set=ROBUST_SET),
        message:
            "{wildcards.study}: the default scale again under the alternate seed set (a nested run into "
            f"{ROBUST_ROOT}/)"
        shell:
            "snakemake --nolock --cores {threads} --config {params.config} -- {output.claims} > {log} 2>&1"

    rule robustness:
        input:
            expand(robust_path("{study}/claims.json"), study=STUDIES),
            results_path("REPORT.md"),

    for _study in STUDY_TARGETS:

        rule:
            name:
                f"{_study}_robustness"
            input:
                robust_claims(_study),
                results_path("REPORT.md"),
