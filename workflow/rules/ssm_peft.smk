# ssm_peft: PEFT on state space models. Flow: per seed, every method (K configurations each) on a synthetic deep
# S4D (frozen -> smaller target); a small Mamba pretrained on digits 0-4, then per fine-tuning seed every method
# fine-tuned on digits 5-9; figures, claims.

SP_SEEDS = study_cfg("ssm_peft", "seeds")
SP_FT_SEEDS = study_cfg("ssm_peft", "finetune_seeds")


rule ssm_peft_synthetic:
    input:
        lib=lib("workflow/scripts/ssm_peft/synthetic.py"),
    output:
        table=results_path("ssm_peft/metrics/synthetic_s{seed}.parquet"),
    log:
        logs_path("ssm_peft/synthetic_s{seed}.log"),
    benchmark:
        results_path("ssm_peft/benchmarks/synthetic_s{seed}.tsv")
    conda:
        ENV
    threads: study_cfg("ssm_peft", "threads")  # capped at --cores
    resources:
        gpu=gpu_request(),
        runtime=60,
        mem_mb=8000,
    params:
        cfg=study_cfg("ssm_peft", "synthetic"),
        seed="{seed}",
        device=CFG["device"],
        scale=SCALE,
    message:
        "ssm_peft: every method on the synthetic deep S4D, seed {wildcards.seed}"
    script:
        "../scripts/ssm_peft/synthetic.py"


rule ssm_peft_pretrain:
    input:
        lib=lib("workflow/scripts/ssm_peft/pretrain.py"),
    output:
        model=results_path("ssm_peft/checkpoints/mamba_pretrained.safetensors"),
        history=results_path("ssm_peft/metrics/pretrain.parquet"),
    log:
        logs_path("ssm_peft/pretrain.log"),
    benchmark:
        results_path("ssm_peft/benchmarks/pretrain.tsv")
    conda:
        ENV
    threads: study_cfg("ssm_peft", "threads")
    resources:
        gpu=gpu_request(),
        runtime=60,
        mem_mb=4000,
    params:
        cfg=study_cfg("ssm_peft", "pretrain"),
        seed=study_cfg("ssm_peft", "pretrain_seed"),
        split_seed=study_cfg("ssm_peft", "split_seed"),
        device=CFG["device"],
        scale=SCALE,
        # Resume state lives outside declared outputs: Snakemake deletes those when a job fails.
        state=scratch_path("ssm_peft/pretrain.state.pt"),
    message:
        "ssm_peft: pretraining the Mamba classifier on digits 0-4"
    script:
        "../scripts/ssm_peft/pretrain.py"


rule ssm_peft_finetune:
    input:
        model=rules.ssm_peft_pretrain.output.model,
        lib=lib("workflow/scripts/ssm_peft/finetune.py"),
    output:
        table=results_path("ssm_peft/metrics/finetune_s{seed}.parquet"),
    log:
        logs_path("ssm_peft/finetune_s{seed}.log"),
    benchmark:
        results_path("ssm_peft/benchmarks/finetune_s{seed}.tsv")
    conda:
        ENV
    threads: study_cfg("ssm_peft", "threads")
    resources:
        gpu=gpu_request(),
        runtime=60,
        mem_mb=4000,
    params:
        cfg=study_cfg("ssm_peft", "finetune"),
        seed="{seed}",
        split_seed=study_cfg("ssm_peft", "split_seed"),
        device=CFG["device"],
        scale=SCALE,
    message:
        "ssm_peft: every method fine-tuning the Mamba on digits 5-9, seed {wildcards.seed}"
    script:
        "../scripts/ssm_peft/finetune.py"


SP_TABLES = {
    "synthetic": expand(rules.ssm_peft_synthetic.output.table, seed=SP_SEEDS),
    "finetune": expand(rules.ssm_peft_finetune.output.table, seed=SP_FT_SEEDS),
}


rule ssm_peft_figures:
    input:
        **SP_TABLES,
        lib=lib("workflow/scripts/ssm_peft/figures.py"),
    output:
        budget=report(
            results_path("ssm_peft/figures/ssm_peft_budget.png"),
            caption="../report/ssm_peft/ssm_peft_budget.rst",
            category="ssm_peft",
        ),
    log:
        logs_path("ssm_peft/figures.log"),
    localrule: True
    conda:
        ENV
    params:
        scale=SCALE,
    message:
        "ssm_peft: figures"
    script:
        "../scripts/ssm_peft/figures.py"


rule ssm_peft_claims:
    input:
        **SP_TABLES,
        pretrain=rules.ssm_peft_pretrain.output.history,  # the pretrained model's held-out accuracy (a gate)
        lib=lib("workflow/scripts/ssm_peft/claims.py"),
    output:
        claims=results_path("ssm_peft/claims.json"),
        metrics=results_path("ssm_peft/metrics.json"),
    log:
        logs_path("ssm_peft/claims.log"),
    localrule: True
    conda:
        ENV
    params:
        budgets=study_cfg("ssm_peft", "synthetic", "budgets"),
        roles=study_cfg("ssm_peft", "roles"),
        expected=study_cfg("ssm_peft", "expected_claims"),
        gates=study_cfg("ssm_peft", "gates"),
        thresholds=study_cfg("ssm_peft", "thresholds"),
        seed_set=SEED_SET,
        scale=SCALE,
    message:
        "ssm_peft: checking the paper's claims"
    script:
        "../scripts/ssm_peft/claims.py"


rule ssm_peft_all:
    input:
        rules.ssm_peft_claims.output,
        rules.ssm_peft_figures.output,


STUDY_TARGETS["ssm_peft"] = rules.ssm_peft_all.input
