# r2f: rare-to-frequent guidance on diffusion models trained in the pipeline. Flow: the Gaussian theory (closed
# form and learned 2-D); one judge on balanced renders; per seed a denoiser on the long-tailed world, then every
# guidance method sampled on the rare, ladder and frequent pairs and judged; figures, claims.

R2F_SEEDS = study_cfg("r2f", "seeds")


rule r2f_theory:
    input:
        lib=lib("workflow/scripts/r2f/theory.py"),
    output:
        table=results_path("r2f/metrics/theory.parquet"),
    log:
        logs_path("r2f/theory.log"),
    benchmark:
        results_path("r2f/benchmarks/theory.tsv")
    conda:
        ENV
    threads: study_cfg("r2f", "threads")
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        cfg=study_cfg("r2f", "theory"),
        seeds=R2F_SEEDS,
        device="cpu",  # a 3-layer MLP on 2-D points: the GPU would only add launch overhead
        scale=SCALE,
    message:
        "r2f: the Gaussian theory, closed form and learned in 2-D"
    script:
        "../scripts/r2f/theory.py"


rule r2f_judge:
    input:
        lib=lib("workflow/scripts/r2f/judge.py"),
    output:
        model=results_path("r2f/checkpoints/judge.safetensors"),
        metrics=results_path("r2f/metrics/judge.json"),
    log:
        logs_path("r2f/judge.log"),
    benchmark:
        results_path("r2f/benchmarks/judge.tsv")
    conda:
        ENV
    threads: study_cfg("r2f", "threads")
    resources:
        gpu=gpu_request(),
        runtime=30,
        mem_mb=2000,
    params:
        cfg={
            "world": pick(study_cfg("r2f", "world"), "size", "render"),
            "judge": study_cfg("r2f", "judge"),
        },
        seed=study_cfg("r2f", "judge_seed"),
        device=CFG["device"],
        scale=SCALE,
    message:
        "r2f: training the judge on balanced renders"
    script:
        "../scripts/r2f/judge.py"


rule r2f_train:
    input:
        lib=lib("workflow/scripts/r2f/train.py"),
    output:
        model=results_path("r2f/checkpoints/denoiser_s{seed}.safetensors"),
        history=results_path("r2f/metrics/train_s{seed}.parquet"),
    log:
        logs_path("r2f/train_s{seed}.log"),
    benchmark:
        results_path("r2f/benchmarks/train_s{seed}.tsv")
    conda:
        ENV
    threads: study_cfg("r2f", "threads")
    resources:
        gpu=gpu_request(),
        runtime=60,
        mem_mb=4000,
    params:
        cfg={
            "world": study_cfg("r2f", "world"),
            "denoiser": study_cfg("r2f", "denoiser"),
        },
        seed="{seed}",
        device=CFG["device"],
        scale=SCALE,
    message:
        "r2f: training the denoiser on the long-tailed world, seed {wildcards.seed}"
    script:
        "../scripts/r2f/train.py"


rule r2f_sample:
    input:
        denoiser=rules.r2f_train.output.model,
        judge=rules.r2f_judge.output.model,
        lib=lib("workflow/scripts/r2f/sample.py"),
    output:
        table=results_path("r2f/metrics/samples_s{seed}.parquet"),
        examples=results_path("r2f/samples/examples_s{seed}.safetensors"),
    log:
        logs_path("r2f/sample_s{seed}.log"),
    benchmark:
        results_path("r2f/benchmarks/sample_s{seed}.tsv")
    conda:
        ENV
    threads: study_cfg("r2f", "threads")
    resources:
        gpu=gpu_request(),
        runtime=60,
        mem_mb=4000,
    params:
        cfg={
            "world": study_cfg("r2f", "world"),
            "planner": study_cfg("r2f", "planner"),
            "sampling": study_cfg("r2f", "sampling"),
        },
        seed="{seed}",
        device=CFG["device"],
        scale=SCALE,
    message:
        "r2f: sampling and judging every guidance method, seed {wildcards.seed}"
    script:
        "../scripts/r2f/sample.py"


R2F_SAMPLES = expand(rules.r2f_sample.output.table, seed=R2F_SEEDS)


rule r2f_figures:
    input:
        theory=rules.r2f_theory.output.table,
        samples=R2F_SAMPLES,
        examples=expand(rules.r2f_sample.output.examples, seed=R2F_SEEDS[:1]),
        lib=lib("workflow/scripts/r2f/figures.py"),
    output:
        theory=report(
            results_path("r2f/figures/r2f_theory.png"),
            caption="../report/r2f/r2f_theory.rst",
            category="r2f",
        ),
        methods=report(
            results_path("r2f/figures/r2f_methods.png"),
            caption="../report/r2f/r2f_methods.rst",
            category="r2f",
        ),
        stop_steps=report(
            results_path("r2f/figures/r2f_stop_steps.png"),
            caption="../report/r2f/r2f_stop_steps.rst",
            category="r2f",
        ),
        rarity=report(
            results_path("r2f/figures/r2f_rarity.png"),
            caption="../report/r2f/r2f_rarity.rst",
            category="r2f",
        ),
        samples=report(
            results_path("r2f/figures/r2f_samples.png"),
            caption="../report/r2f/r2f_samples.rst",
            category="r2f",
        ),
    log:
        logs_path("r2f/figures.log"),
    localrule: True
    conda:
        ENV
    params:
        rare=list(study_cfg("r2f", "world", "rare")),
        methods=study_cfg("r2f", "sampling", "methods"),
        ablations=study_cfg("r2f", "planner", "ablations"),
        scale=SCALE,
    message:
        "r2f: figures"
    script:
        "../scripts/r2f/figures.py"


rule r2f_claims:
    input:
        theory=rules.r2f_theory.output.table,
        samples=R2F_SAMPLES,
        judge=rules.r2f_judge.output.metrics,
        lib=lib("workflow/scripts/r2f/claims.py"),
    output:
        claims=results_path("r2f/claims.json"),
        metrics=results_path("r2f/metrics.json"),
    log:
        logs_path("r2f/claims.log"),
    localrule: True
    conda:
        ENV
    params:
        expected=study_cfg("r2f", "expected_claims"),
        gates=study_cfg("r2f", "gates"),
        thresholds=study_cfg("r2f", "claims"),
        substitute=study_cfg("r2f", "planner", "substitute"),
        seed_set=SEED_SET,
        scale=SCALE,
    message:
        "r2f: checking the paper's claims"
    script:
        "../scripts/r2f/claims.py"


rule r2f_all:
    input:
        rules.r2f_claims.output,
        rules.r2f_figures.output,


STUDY_TARGETS["r2f"] = rules.r2f_all.input
