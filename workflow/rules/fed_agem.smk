# fed_agem: continual federated learning with buffer gradient projection. Flow: per (scenario, seed), every
# base method with and without Fed-A-GEM, under both buffer rules, on the configured executor; figures, claims.

FA_SEEDS = study_cfg("fed_agem", "seeds")
FA_SCENARIOS = study_cfg("fed_agem", "scenarios")


rule fed_agem_run:
    input:
        lib=lib("workflow/scripts/fed_agem/run.py"),
    output:
        table=results_path("fed_agem/metrics/{scenario}_s{seed}.parquet"),
    log:
        logs_path("fed_agem/{scenario}_s{seed}.log"),
    benchmark:
        results_path("fed_agem/benchmarks/{scenario}_s{seed}.tsv")
    wildcard_constraints:
        scenario="rotated|permuted|split",
    conda:
        ENV
    threads: study_cfg("fed_agem", "threads")  # capped at --cores
    resources:
        gpu=gpu_request(),
        runtime=60,
        mem_mb=4000,
    params:
        cfg={
            k: study_cfg("fed_agem", k)
            for k in ("executor", "bases", "buffer_rules", "data", "model", "train")
        },
        scenario="{scenario}",
        data_root=CFG.get("data_root"),
        seed="{seed}",
        device=CFG["device"],
        scale=SCALE,
    message:
        "fed_agem: every method on {wildcards.scenario}, seed {wildcards.seed}"
    script:
        "../scripts/fed_agem/run.py"


FA_TABLES = expand(
    rules.fed_agem_run.output.table, scenario=FA_SCENARIOS, seed=FA_SEEDS
)


rule fed_agem_figures:
    input:
        tables=FA_TABLES,
        lib=lib("workflow/scripts/fed_agem/figures.py"),
    output:
        accuracy=report(
            results_path("fed_agem/figures/fed_agem_accuracy.png"),
            caption="../report/fed_agem/fed_agem_accuracy.rst",
            category="fed_agem",
        ),
        summary=report(
            results_path("fed_agem/figures/fed_agem_summary.png"),
            caption="../report/fed_agem/fed_agem_summary.rst",
            category="fed_agem",
        ),
    log:
        logs_path("fed_agem/figures.log"),
    localrule: True
    conda:
        ENV
    params:
        scale=SCALE,
    message:
        "fed_agem: figures"
    script:
        "../scripts/fed_agem/figures.py"


rule fed_agem_claims:
    input:
        tables=FA_TABLES,
        lib=lib("workflow/scripts/fed_agem/claims.py"),
    output:
        claims=results_path("fed_agem/claims.json"),
        metrics=results_path("fed_agem/metrics.json"),
    log:
        logs_path("fed_agem/claims.log"),
    localrule: True
    conda:
        ENV
    params:
        expected=study_cfg("fed_agem", "expected_claims"),
        gates=study_cfg("fed_agem", "gates"),
        seed_set=SEED_SET,
        scale=SCALE,
    message:
        "fed_agem: checking the paper's claims"
    script:
        "../scripts/fed_agem/claims.py"


rule fed_agem_all:
    input:
        rules.fed_agem_claims.output,
        rules.fed_agem_figures.output,


STUDY_TARGETS["fed_agem"] = rules.fed_agem_all.input
