# task_vectors: task vectors and the TVP-loss. Flow: train each model (baseline, TVP-loss at its prescribed
# layer) per seed -> evaluate (TVP at every layer, OOD ICL, PCA of task vectors) -> figures, claims.

TV_MODELS = study_cfg("task_vectors", "models")
TV_SEEDS = study_cfg("task_vectors", "seeds")
TV_LAYERS = {m: v.get("tvp_layer") for m, v in TV_MODELS.items()}


# The settings one job of a model reads: the task, that model, and the train (or eval) block.
TV_JOB_CFG = {
    (m, block): {
        "task": study_cfg("task_vectors", "task"),
        "model": TV_MODELS[m],
        block: study_cfg("task_vectors", block),
    }
    for m in TV_MODELS
    for block in ("train", "eval")
}


rule task_vectors_train:
    input:
        lib=lib("workflow/scripts/task_vectors/train.py"),
    output:
        model=results_path("task_vectors/checkpoints/{model}_s{seed}.safetensors"),
        history=results_path("task_vectors/metrics/train_{model}_s{seed}.parquet"),
    log:
        logs_path("task_vectors/train_{model}_s{seed}.log"),
    benchmark:
        results_path("task_vectors/benchmarks/train_{model}_s{seed}.tsv")
    conda:
        ENV
    threads: study_cfg("task_vectors", "threads")  # capped at --cores
    resources:
        gpu=gpu_request(),
        runtime=60,
        mem_mb=8000,
    params:
        cfg=lambda w: TV_JOB_CFG[(w.model, "train")],
        seed="{seed}",
        device=CFG["device"],
        scale=SCALE,
        # Resume state lives outside declared outputs: Snakemake deletes those when a job fails.
        state=scratch_path("task_vectors/{model}_s{seed}.state.pt"),
    message:
        "task_vectors: training {wildcards.model}, seed {wildcards.seed}"
    script:
        "../scripts/task_vectors/train.py"


rule task_vectors_evaluate:
    input:
        model=rules.task_vectors_train.output.model,
        lib=lib("workflow/scripts/task_vectors/evaluate.py"),
    output:
        tvp=results_path("task_vectors/metrics/tvp_{model}_s{seed}.parquet"),
        ood=results_path("task_vectors/metrics/ood_{model}_s{seed}.parquet"),
        pca=results_path("task_vectors/metrics/pca_{model}_s{seed}.parquet"),
    log:
        logs_path("task_vectors/evaluate_{model}_s{seed}.log"),
    benchmark:
        results_path("task_vectors/benchmarks/evaluate_{model}_s{seed}.tsv")
    conda:
        ENV
    threads: study_cfg("task_vectors", "threads")
    resources:
        gpu=gpu_request(),
        runtime=30,
        mem_mb=8000,
    params:
        cfg=lambda w: TV_JOB_CFG[(w.model, "eval")],
        seed="{seed}",
        device=CFG["device"],
        scale=SCALE,
    message:
        "task_vectors: TVP sweep and OOD evaluation of {wildcards.model}, seed {wildcards.seed}"
    script:
        "../scripts/task_vectors/evaluate.py"


TV_EVAL = {
    kind: expand(
        f"{RESULTS}/task_vectors/metrics/{kind}_{{model}}_s{{seed}}.parquet",
        model=sorted(TV_MODELS),
        seed=TV_SEEDS,
    )
    for kind in ("tvp", "ood", "pca")
}


rule task_vectors_figures:
    input:
        **TV_EVAL,
        lib=lib("workflow/scripts/task_vectors/figures.py"),
    output:
        tvp=report(
            results_path("task_vectors/figures/tvp_by_layer.png"),
            caption="../report/task_vectors/tvp_by_layer.rst",
            category="task_vectors",
        ),
        pca=report(
            results_path("task_vectors/figures/task_vector_pca.png"),
            caption="../report/task_vectors/task_vector_pca.rst",
            category="task_vectors",
        ),
        location=report(
            results_path("task_vectors/figures/tvp_location.png"),
            caption="../report/task_vectors/tvp_location.rst",
            category="task_vectors",
        ),
        ood=report(
            results_path("task_vectors/figures/ood_icl.png"),
            caption="../report/task_vectors/ood_icl.rst",
            category="task_vectors",
        ),
    log:
        logs_path("task_vectors/figures.log"),
    localrule: True
    conda:
        ENV
    params:
        layers=TV_LAYERS,
        k=study_cfg("task_vectors", "task", "k"),
        discrete=study_cfg("task_vectors", "task", "family") == "offset",
        scale=SCALE,
    message:
        "task_vectors: figures"
    script:
        "../scripts/task_vectors/figures.py"


rule task_vectors_claims:
    input:
        tvp=TV_EVAL["tvp"],
        ood=TV_EVAL["ood"],
        # training losses: the TVP-loss models' convergence gate
        history=expand(
            rules.task_vectors_train.output.history,
            model=sorted(TV_MODELS),
            seed=TV_SEEDS,
        ),
        lib=lib("workflow/scripts/task_vectors/claims.py"),
    output:
        claims=results_path("task_vectors/claims.json"),
        metrics=results_path("task_vectors/metrics.json"),
    log:
        logs_path("task_vectors/claims.log"),
    localrule: True
    conda:
        ENV
    params:
        layers=TV_LAYERS,
        k=study_cfg("task_vectors", "task", "k"),
        gates=study_cfg("task_vectors", "gates"),
        seed_set=SEED_SET,
        scale=SCALE,
    message:
        "task_vectors: checking the paper's claims"
    script:
        "../scripts/task_vectors/claims.py"


rule task_vectors_all:
    input:
        rules.task_vectors_claims.output,
        rules.task_vectors_figures.output,


STUDY_TARGETS["task_vectors"] = rules.task_vectors_all.input
