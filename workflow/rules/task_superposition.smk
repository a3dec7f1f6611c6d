# task_superposition: several ICL tasks in one prompt. Flow: train each from-scratch model on single-task
# prompts per seed -> evaluate (mixtures, per-prompt splits, task vectors); SmolLM2 on mixed prompts of the
# tasks it passes alone -> figures, claims.

TS_MODELS = study_cfg("task_superposition", "scratch", "models")
# the study's own seeds (3 at small: issue 31)
TS_SEEDS = study_cfg("task_superposition", "seeds")


TS_SCRATCH = study_cfg("task_superposition", "scratch")
# The settings one job of a model reads: its spec, the demo count, and the blocks of that job (train or eval).
TS_JOB_CFG = {
    (m, job): {
        "spec": TS_MODELS[m],
        "n_demos": TS_SCRATCH["n_demos"],
        **{b: TS_SCRATCH[b] for b in blocks},
    }
    for m in TS_MODELS
    for job, blocks in (
        ("train", ("model", "train")),
        ("eval", ("test", "task_vectors")),
    )
}


rule task_superposition_train:
    input:
        lib=lib("workflow/scripts/task_superposition/train.py"),
    output:
        model=results_path("task_superposition/checkpoints/{model}_s{seed}.safetensors"),
        history=results_path("task_superposition/metrics/train_{model}_s{seed}.parquet"),
    log:
        logs_path("task_superposition/train_{model}_s{seed}.log"),
    benchmark:
        results_path("task_superposition/benchmarks/train_{model}_s{seed}.tsv")
    conda:
        ENV
    threads: study_cfg("task_superposition", "threads")  # capped at --cores
    resources:
        gpu=gpu_request(),
        runtime=60,
        mem_mb=8000,
    params:
        cfg=lambda w: TS_JOB_CFG[(w.model, "train")],
        seed="{seed}",
        device=CFG["device"],
        scale=SCALE,
        # Resume state lives outside declared outputs: Snakemake deletes those when a job fails.
        state=scratch_path("task_superposition/{model}_s{seed}.state.pt"),
    message:
        "task_superposition: training {wildcards.model} on single-task prompts, seed {wildcards.seed}"
    script:
        "../scripts/task_superposition/train.py"


rule task_superposition_evaluate:
    input:
        model=rules.task_superposition_train.output.model,
        lib=lib("workflow/scripts/task_superposition/evaluate.py"),
    output:
        mixing=results_path("task_superposition/metrics/mixing_{model}_s{seed}.parquet"),
        tv_layers=results_path(
            "task_superposition/metrics/tv_layers_{model}_s{seed}.parquet"
        ),
        tv_interp=results_path(
            "task_superposition/metrics/tv_interp_{model}_s{seed}.parquet"
        ),
    log:
        logs_path("task_superposition/evaluate_{model}_s{seed}.log"),
    benchmark:
        results_path("task_superposition/benchmarks/evaluate_{model}_s{seed}.tsv")
    conda:
        ENV
    threads: study_cfg("task_superposition", "threads")
    resources:
        gpu=gpu_request(),
        runtime=30,
        mem_mb=8000,
    params:
        cfg=lambda w: TS_JOB_CFG[(w.model, "eval")],
        seed="{seed}",
        device=CFG["device"],
        scale=SCALE,
    message:
        "task_superposition: mixed-task prompts and task vectors of {wildcards.model}, seed {wildcards.seed}"
    script:
        "../scripts/task_superposition/evaluate.py"


rule task_superposition_llm:
    input:
        lib=lib("workflow/scripts/task_superposition/llm.py"),
    output:
        screen=results_path("task_superposition/metrics/llm_screen.parquet"),
        mixing=results_path("task_superposition/metrics/llm_mixing.parquet"),
    log:
        logs_path("task_superposition/llm.log"),
    benchmark:
        results_path("task_superposition/benchmarks/llm.tsv")
    conda:
        ENV
    threads: study_cfg("task_superposition", "threads")
    resources:
        gpu=gpu_request(),
        runtime=60,
        mem_mb=6000,
    params:
        cfg=study_cfg("task_superposition", "llm"),
        seed=study_cfg("task_superposition", "llm", "seed"),
        device=CFG["device"],
        scale=SCALE,
    message:
        "task_superposition: {params.cfg[model]} on mixed-task prompts"
    script:
        "../scripts/task_superposition/llm.py"


rule task_superposition_llm_task_vectors:
    input:
        lib=lib("workflow/scripts/task_superposition/llm_task_vectors.py"),
    output:
        tv_layers=results_path("task_superposition/metrics/llm_tv_layers.parquet"),
        tv_interp=results_path("task_superposition/metrics/llm_tv_interp.parquet"),
    log:
        logs_path("task_superposition/llm_task_vectors.log"),
    benchmark:
        results_path("task_superposition/benchmarks/llm_task_vectors.tsv")
    conda:
        ENV
    threads: study_cfg("task_superposition", "threads")
    resources:
        gpu=gpu_request(),
        runtime=60,
        mem_mb=6000,
    params:
        cfg={
            **pick(
                study_cfg("task_superposition", "llm"), "model", "dtype", "n_demos"
            ),
            "tv": study_cfg("task_superposition", "llm_task_vectors"),
        },
        seed=study_cfg("task_superposition", "llm", "seed"),
        device=CFG["device"],
        scale=SCALE,
    message:
        "task_superposition: task vectors in {params.cfg[model]}"
    script:
        "../scripts/task_superposition/llm_task_vectors.py"


TS_EVAL = {
    kind: expand(
        f"{RESULTS}/task_superposition/metrics/{kind}_{{model}}_s{{seed}}.parquet",
        model=sorted(TS_MODELS),
        seed=TS_SEEDS,
    )
    for kind in ("mixing", "tv_layers", "tv_interp", "train")
}


rule task_superposition_figures:
    input:
        **TS_EVAL,
        llm=rules.task_superposition_llm.output.mixing,
        llm_tv_layers=rules.task_superposition_llm_task_vectors.output.tv_layers,
        llm_tv_interp=rules.task_superposition_llm_task_vectors.output.tv_interp,
        lib=lib("workflow/scripts/task_superposition/figures.py"),
    output:
        mixing=report(
            results_path("task_superposition/figures/scratch_mixing.png"),
            caption="../report/task_superposition/scratch_mixing.rst",
            category="task_superposition",
        ),
        per_prompt=report(
            results_path("task_superposition/figures/scratch_per_prompt.png"),
            caption="../report/task_superposition/scratch_per_prompt.rst",
            category="task_superposition",
        ),
        tv=report(
            results_path("task_superposition/figures/task_vector_interpolation.png"),
            caption="../report/task_superposition/task_vector_interpolation.rst",
            category="task_superposition",
        ),
        learning=report(
            results_path("task_superposition/figures/learning_curves.png"),
            caption="../report/task_superposition/learning_curves.rst",
            category="task_superposition",
        ),
        llm=report(
            results_path("task_superposition/figures/llm_mixing.png"),
            caption="../report/task_superposition/llm_mixing.rst",
            category="task_superposition",
        ),
        llm_tv=report(
            results_path("task_superposition/figures/llm_task_vectors.png"),
            caption="../report/task_superposition/llm_task_vectors.rst",
            category="task_superposition",
        ),
    log:
        logs_path("task_superposition/figures.log"),
    localrule: True
    conda:
        ENV
    params:
        specs=TS_MODELS,
        model=study_cfg("task_superposition", "llm", "model"),
        gate=study_cfg("task_superposition", "gates", "scratch_single_task_accuracy"),
        scale=SCALE,
        seed_set=SEED_SET,
    message:
        "task_superposition: figures"
    script:
        "../scripts/task_superposition/figures.py"


rule task_superposition_claims:
    input:
        mixing=TS_EVAL["mixing"],
        tv_interp=TS_EVAL["tv_interp"],
        llm_screen=rules.task_superposition_llm.output.screen,
        llm_mixing=rules.task_superposition_llm.output.mixing,
        llm_tv_layers=rules.task_superposition_llm_task_vectors.output.tv_layers,
        llm_tv_interp=rules.task_superposition_llm_task_vectors.output.tv_interp,
        lib=lib("workflow/scripts/task_superposition/claims.py"),
    output:
        claims=results_path("task_superposition/claims.json"),
        metrics=results_path("task_superposition/metrics.json"),
    log:
        logs_path("task_superposition/claims.log"),
    localrule: True
    conda:
        ENV
    params:
        specs=TS_MODELS,
        model=study_cfg("task_superposition", "llm", "model"),
        n_demos=study_cfg("task_superposition", "llm", "n_demos"),
        expected=study_cfg("task_superposition", "expected_claims"),
        gates=study_cfg("task_superposition", "gates"),
        scale=SCALE,
        seed_set=SEED_SET,
    message:
        "task_superposition: checking the paper's claims"
    script:
        "../scripts/task_superposition/claims.py"


rule task_superposition_all:
    input:
        rules.task_superposition_claims.output,
        rules.task_superposition_figures.output,


STUDY_TARGETS["task_superposition"] = rules.task_superposition_all.input
