# ftc: fine-tuning capacity of additive ReLU networks. Flow: pretrain the frozen f per input dimension,
# then exact constructions, breakpoint bounds and trained-width searches (one job per depth), figures, claims.

FTC_DIMS = sorted(
    {p["d"] for p in study_cfg("ftc", "constructions", "problems")}
    | {p["d"] for p in study_cfg("ftc", "trained", "problems")}
)


rule ftc_pretrain:
    input:
        lib=lib("workflow/scripts/ftc/pretrain.py"),
    output:
        model=results_path("ftc/checkpoints/f_d{d}.safetensors"),
    log:
        logs_path("ftc/pretrain_d{d}.log"),
    benchmark:
        results_path("ftc/benchmarks/pretrain_d{d}.tsv")
    conda:
        ENV
    params:
        cfg=study_cfg("ftc", "pretrain"),
        d="{d}",
        seed=study_cfg("ftc", "seed"),
        device="cpu",
        scale=SCALE,
    message:
        "ftc: pretraining the frozen network f, d={wildcards.d}"
    script:
        "../scripts/ftc/pretrain.py"


rule ftc_constructions:
    input:
        models=expand(rules.ftc_pretrain.output.model, d=FTC_DIMS),
        lib=lib("workflow/scripts/ftc/constructions.py"),
    output:
        table=results_path("ftc/metrics/constructions.parquet"),
    log:
        logs_path("ftc/constructions.log"),
    benchmark:
        results_path("ftc/benchmarks/constructions.tsv")
    conda:
        ENV
    params:
        cfg=study_cfg("ftc", "constructions"),
        dims=FTC_DIMS,
        seed=study_cfg("ftc", "seed"),
        device="cpu",
        scale=SCALE,
    message:
        "ftc: exact 2- and 3-layer constructions"
    script:
        "../scripts/ftc/constructions.py"


rule ftc_bounds:
    input:
        lib=lib("workflow/scripts/ftc/bounds.py"),
    output:
        table=results_path("ftc/metrics/bounds.parquet"),
    log:
        logs_path("ftc/bounds.log"),
    conda:
        ENV
    params:
        cfg=study_cfg("ftc", "bounds"),
        seed=study_cfg("ftc", "seed"),  # deterministic patterns; recorded so provenance names the seed set
        device="cpu",
        scale=SCALE,
    message:
        "ftc: breakpoint lower bounds on collinear spike patterns"
    script:
        "../scripts/ftc/bounds.py"


rule ftc_trained:
    input:
        models=expand(
            rules.ftc_pretrain.output.model,
            d=sorted({p["d"] for p in study_cfg("ftc", "trained", "problems")}),
        ),
        lib=lib("workflow/scripts/ftc/trained.py"),
    output:
        table=results_path("ftc/metrics/trained_depth{depth}.parquet"),
    log:
        logs_path("ftc/trained_depth{depth}.log"),
    benchmark:
        results_path("ftc/benchmarks/trained_depth{depth}.tsv")
    conda:
        ENV
    threads: 1
    resources:
        gpu=gpu_request(),
        runtime=60,
        mem_mb=4000,
    params:
        cfg=study_cfg("ftc", "trained"),
        depth="{depth}",
        # the searches draw from trained.seeds; this seeds the job's global generators like every other rule
        seed=study_cfg("ftc", "seed"),
        device=CFG["device"],
        scale=SCALE,
    message:
        "ftc: smallest trainable width, {wildcards.depth}-layer g"
    script:
        "../scripts/ftc/trained.py"


rule ftc_figures:
    input:
        cons=rules.ftc_constructions.output.table,
        bounds=rules.ftc_bounds.output.table,
        trained=expand(rules.ftc_trained.output.table, depth=[2, 3]),
        lib=lib("workflow/scripts/ftc/figures.py"),
    output:
        scaling=report(
            results_path("ftc/figures/ftc_scaling.png"),
            caption="../report/ftc/ftc_scaling.rst",
            category="ftc",
        ),
        independence=report(
            results_path("ftc/figures/ftc_independence_of_K.png"),
            caption="../report/ftc/ftc_independence_of_K.rst",
            category="ftc",
        ),
    log:
        logs_path("ftc/figures.log"),
    localrule: True
    conda:
        ENV
    params:
        scale=SCALE,
    message:
        "ftc: figures"
    script:
        "../scripts/ftc/figures.py"


rule ftc_claims:
    input:
        cons=rules.ftc_constructions.output.table,
        bounds=rules.ftc_bounds.output.table,
        trained=expand(rules.ftc_trained.output.table, depth=[2, 3]),
        lib=lib("workflow/scripts/ftc/claims.py"),
    output:
        claims=results_path("ftc/claims.json"),
        metrics=results_path("ftc/metrics.json"),
    log:
        logs_path("ftc/claims.log"),
    localrule: True
    conda:
        ENV
    params:
        scale=SCALE,
        gates=study_cfg("ftc", "gates"),
        seed_set=SEED_SET,
    message:
        "ftc: checking the paper's claims"
    script:
        "../scripts/ftc/claims.py"


rule ftc_all:
    input:
        rules.ftc_claims.output,
        rules.ftc_figures.output,


STUDY_TARGETS["ftc"] = rules.ftc_all.input
