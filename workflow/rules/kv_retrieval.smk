# kv_retrieval: fine-tuning SmolLM2 on synthetic key-value retrieval, measured on multi-document QA. Flow: per arm
# and seed a fine-tune from the shared start (its training prompts written beside the adapter); an evaluation of
# base and of every fine-tuned model (held-out KV, MDQA by gold position, held-out perplexity); figures, claims.

KV_SEEDS = study_cfg("kv_retrieval", "seeds")
KV_ARMS = study_cfg("kv_retrieval", "arms")
KV_NQ = (
    f"{CFG['data_root']}/lost-in-the-middle/nq-open-oracle.jsonl.gz"
    if CFG.get("data_root")
    else None
)


rule kv_retrieval_train:
    input:
        lib=lib("workflow/scripts/kv_retrieval/train.py"),
    output:
        model=results_path("kv_retrieval/checkpoints/{arm}_s{seed}.safetensors"),
        history=results_path("kv_retrieval/metrics/train_{arm}_s{seed}.parquet"),
        data=results_path("kv_retrieval/data/train_{arm}_s{seed}.jsonl"),
    log:
        logs_path("kv_retrieval/train_{arm}_s{seed}.log"),
    benchmark:
        results_path("kv_retrieval/benchmarks/train_{arm}_s{seed}.tsv")
    wildcard_constraints:
        arm="plain|template|facts",
    conda:
        ENV
    threads: study_cfg("kv_retrieval", "threads")
    resources:
        gpu=gpu_request(),
        runtime=60,
        mem_mb=6000,
    params:
        cfg={k: study_cfg("kv_retrieval", k) for k in ("model", "data", "finetune")},
        arm="{arm}",
        seed="{seed}",
        # Resume state lives outside declared outputs: Snakemake deletes those when a job fails.
        state=scratch_path("kv_retrieval/{arm}_s{seed}.state.pt"),
        device=CFG["device"],
        scale=SCALE,
    message:
        "kv_retrieval: fine-tuning the {wildcards.arm} arm, seed {wildcards.seed}"
    script:
        "../scripts/kv_retrieval/train.py"


rule kv_retrieval_eval:
    input:
        # base: the shared start, nothing to load
        unpack(
            lambda w: (
                {}
                if w.arm == "base"
                else {
                    "model": f"{RESULTS}/kv_retrieval/checkpoints/{w.arm}_s{w.seed}.safetensors",
                    "data": f"{RESULTS}/kv_retrieval/data/train_{w.arm}_s{w.seed}.jsonl",
                }
            )
        ),
        lib=lib("workflow/scripts/kv_retrieval/eval.py"),
    output:
        table=results_path("kv_retrieval/metrics/eval_{arm}_s{seed}.parquet"),
    log:
        logs_path("kv_retrieval/eval_{arm}_s{seed}.log"),
    benchmark:
        results_path("kv_retrieval/benchmarks/eval_{arm}_s{seed}.tsv")
    wildcard_constraints:
        arm="base|plain|template|facts",
    conda:
        ENV
    threads: study_cfg("kv_retrieval", "threads")
    resources:
        gpu=gpu_request(),
        runtime=60,
        mem_mb=6000,
    params:
        cfg={
            **{
                k: study_cfg("kv_retrieval", k)
                for k in ("model", "data", "finetune", "eval")
            },
            "nq_path": KV_NQ,
        },
        arm="{arm}",
        seed="{seed}",
        device=CFG["device"],
        scale=SCALE,
    message:
        "kv_retrieval: evaluating the {wildcards.arm} arm, seed {wildcards.seed}"
    script:
        "../scripts/kv_retrieval/eval.py"


# The base model is evaluated once; its file carries the first configured seed, so seed_set moves it too.
KV_TABLES = [
    rules.kv_retrieval_eval.output.table.format(arm="base", seed=KV_SEEDS[0])
] + expand(rules.kv_retrieval_eval.output.table, arm=KV_ARMS, seed=KV_SEEDS)
# The fine-tunes' loss histories (the gate of kv_accuracy_rises), with the (arm, seed) each file belongs to.
KV_HISTORIES = {
    (arm, seed): rules.kv_retrieval_train.output.history.format(arm=arm, seed=seed)
    for arm in KV_ARMS
    for seed in KV_SEEDS
}


rule kv_retrieval_figures:
    input:
        tables=KV_TABLES,
        lib=lib("workflow/scripts/kv_retrieval/figures.py"),
    output:
        positions=report(
            results_path("kv_retrieval/figures/kv_retrieval_positions.png"),
            caption="../report/kv_retrieval/kv_retrieval_positions.rst",
            category="kv_retrieval",
        ),
        kv=report(
            results_path("kv_retrieval/figures/kv_retrieval_kv.png"),
            caption="../report/kv_retrieval/kv_retrieval_kv.rst",
            category="kv_retrieval",
        ),
        perplexity=report(
            results_path("kv_retrieval/figures/kv_retrieval_perplexity.png"),
            caption="../report/kv_retrieval/kv_retrieval_perplexity.rst",
            category="kv_retrieval",
        ),
    log:
        logs_path("kv_retrieval/figures.log"),
    localrule: True
    conda:
        ENV
    params:
        scale=SCALE,
        seed_set=SEED_SET,
    message:
        "kv_retrieval: figures"
    script:
        "../scripts/kv_retrieval/figures.py"


rule kv_retrieval_claims:
    input:
        tables=KV_TABLES,
        histories=list(KV_HISTORIES.values()),
        lib=lib("workflow/scripts/kv_retrieval/claims.py"),
    output:
        claims=results_path("kv_retrieval/claims.json"),
        metrics=results_path("kv_retrieval/metrics.json"),
    log:
        logs_path("kv_retrieval/claims.log"),
    localrule: True
    conda:
        ENV
    params:
        cfg=study_cfg("kv_retrieval", "claims"),
        gates=study_cfg("kv_retrieval", "gates"),
        history_keys=[list(k) for k in KV_HISTORIES],
        expected=study_cfg("kv_retrieval", "expected_claims"),
        scale=SCALE,
        seed_set=SEED_SET,
    message:
        "kv_retrieval: checking the paper's claims"
    script:
        "../scripts/kv_retrieval/claims.py"


rule kv_retrieval_all:
    input:
        rules.kv_retrieval_claims.output,
        rules.kv_retrieval_figures.output,


STUDY_TARGETS["kv_retrieval"] = rules.kv_retrieval_all.input
