# entp: encoder-only next-token prediction. Flow: Count3 training per model (learning curves), addition sample
# efficiency per (format, arch, n_train), length generalisation per arch, then figures and claims.

ENTP_MODELS = sorted(study_cfg("entp", "count3", "models"))
# the study's own Count3 seeds (issue 32: a paired comparison needs 3), moved by seed_set like every seed
ENTP_SEEDS = study_cfg("entp", "count3", "seeds")
ENTP_ADD = study_cfg("entp", "addition")
ENTP_ADDITION = expand(
    results_path("entp/metrics/addition_{objective}_{fmt}_{arch}_n{n}.parquet"),
    objective=ENTP_ADD["objectives"],
    fmt=ENTP_ADD["formats"],
    arch=["encoder", "decoder"],
    n=study_cfg("entp", "addition", "n_train"),
)


rule entp_count3:
    input:
        lib=lib("workflow/scripts/entp/count3.py"),
    output:
        model=results_path("entp/checkpoints/count3_{model}_s{seed}.safetensors"),
        history=results_path("entp/metrics/count3_{model}_s{seed}.parquet"),
    log:
        logs_path("entp/count3_{model}_s{seed}.log"),
    benchmark:
        results_path("entp/benchmarks/count3_{model}_s{seed}.tsv")
    priority: 1  # the longest jobs (the encoder's above all): start them first so the others fill in around them
    conda:
        ENV
    threads: study_cfg("entp", "threads")  # capped at --cores
    resources:
        gpu=gpu_request(),
        runtime=90,
        mem_mb=8000,
    params:
        # only this model's settings: adding a model to the list retrains nothing else
        cfg=lambda w: {
            **omit(study_cfg("entp", "count3"), "models", "seeds"),
            "models": {w.model: study_cfg("entp", "count3", "models")[w.model]},
        },
        seed="{seed}",
        device=CFG["device"],
        scale=SCALE,
        # Resume state lives outside declared outputs: Snakemake deletes those when a job fails.
        state=scratch_path("entp/count3_{model}_s{seed}.state.pt"),
    message:
        "entp: Count3, training {wildcards.model}, seed {wildcards.seed}"
    script:
        "../scripts/entp/count3.py"


rule entp_addition:
    input:
        lib=lib("workflow/scripts/entp/addition.py"),
    output:
        table=results_path(
            "entp/metrics/addition_{objective}_{fmt}_{arch}_n{n}.parquet"
        ),
    log:
        logs_path("entp/addition_{objective}_{fmt}_{arch}_n{n}.log"),
    benchmark:
        results_path("entp/benchmarks/addition_{objective}_{fmt}_{arch}_n{n}.tsv")
    wildcard_constraints:
        objective="lm|answer",
    conda:
        ENV
    threads: study_cfg("entp", "threads")
    resources:
        gpu=gpu_request(),
        runtime=60,
        mem_mb=4000,
    params:
        # the shared settings plus this objective's batching only: each objective reruns alone
        cfg=lambda w: {
            **omit(ENTP_ADD, "formats", "n_train", "objectives", "lm", "answer"),
            **ENTP_ADD[w.objective],
        },
        device=CFG["device"],
        scale=SCALE,
    message:
        "entp: {wildcards.fmt} addition ({wildcards.objective} objective), {wildcards.arch}, {wildcards.n} training examples"
    script:
        "../scripts/entp/addition.py"


rule entp_length:
    input:
        lib=lib("workflow/scripts/entp/length.py"),
    output:
        table=results_path("entp/metrics/length_{arch}.parquet"),
    log:
        logs_path("entp/length_{arch}.log"),
    benchmark:
        results_path("entp/benchmarks/length_{arch}.tsv")
    conda:
        ENV
    threads: study_cfg("entp", "threads")
    resources:
        gpu=gpu_request(),
        runtime=60,
        mem_mb=4000,
    params:
        cfg=study_cfg("entp", "length"),
        device=CFG["device"],
        scale=SCALE,
    message:
        "entp: length generalisation, {wildcards.arch}"
    script:
        "../scripts/entp/length.py"


rule entp_figures:
    input:
        count3=expand(
            rules.entp_count3.output.history, model=ENTP_MODELS, seed=ENTP_SEEDS
        ),
        addition=ENTP_ADDITION,
        length=expand(rules.entp_length.output.table, arch=["encoder", "decoder"]),
        lib=lib("workflow/scripts/entp/figures.py"),
    output:
        count3=report(
            results_path("entp/figures/count3_learning_curves.png"),
            caption="../report/entp/count3_learning_curves.rst",
            category="entp",
        ),
        addition=report(
            results_path("entp/figures/addition_sample_efficiency.png"),
            caption="../report/entp/addition_sample_efficiency.rst",
            category="entp",
        ),
        length=report(
            results_path("entp/figures/length_generalisation.png"),
            caption="../report/entp/length_generalisation.rst",
            category="entp",
        ),
    log:
        logs_path("entp/figures.log"),
    localrule: True
    conda:
        ENV
    params:
        train_max_digits=study_cfg("entp", "length", "train_digits")[1],
        scale=SCALE,
    message:
        "entp: figures"
    script:
        "../scripts/entp/figures.py"


rule entp_claims:
    input:
        count3=expand(
            rules.entp_count3.output.history, model=ENTP_MODELS, seed=ENTP_SEEDS
        ),
        addition=ENTP_ADDITION,
        length=expand(rules.entp_length.output.table, arch=["encoder", "decoder"]),
        lib=lib("workflow/scripts/entp/claims.py"),
    output:
        claims=results_path("entp/claims.json"),
        metrics=results_path("entp/metrics.json"),
    log:
        logs_path("entp/claims.log"),
    localrule: True
    conda:
        ENV
    params:
        scale=SCALE,
        expected=study_cfg("entp", "expected_claims"),
        gates=study_cfg("entp", "gates"),
        margins=study_cfg("entp", "margins"),
        seed_set=SEED_SET,
    message:
        "entp: checking the paper's claims"
    script:
        "../scripts/entp/claims.py"


rule entp_all:
    input:
        rules.entp_claims.output,
        rules.entp_figures.output,


STUDY_TARGETS["entp"] = rules.entp_all.input
