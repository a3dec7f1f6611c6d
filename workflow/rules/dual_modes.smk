from fractions import Fraction

# dual_modes: Bayes-optimal ICL under a Gaussian task mixture (Figures 4-6) and a trained transformer.
# Flow: three Monte Carlo sweeps + train -> evaluate per prior delta, then figures and claims.

DM_TF = study_cfg("dual_modes", "transformer")
# The headline delta first, then Figure 9's other priors, as numerator_denominator in file names (1/16: 1_16).
DM_TAGS = list(
    dict.fromkeys(
        f"{Fraction(str(d)).numerator}_{Fraction(str(d)).denominator}"
        for d in [DM_TF["delta"]] + DM_TF.get("fig9_deltas", [])
    )
)
DM_DELTAS = [t.replace("_", "/") for t in DM_TAGS]


rule dual_modes_modes:
    input:
        lib=lib("workflow/scripts/dual_modes/modes.py"),
    output:
        table=results_path("dual_modes/metrics/fig4_modes.parquet"),
    log:
        logs_path("dual_modes/modes.log"),
    benchmark:
        results_path("dual_modes/benchmarks/modes.tsv")
    conda:
        ENV
    params:
        cfg=study_cfg("dual_modes", "modes"),
        seed=study_cfg("dual_modes", "mc_seed"),
        chunk=study_cfg("dual_modes", "chunk"),
        device=CFG["device"],
        scale=SCALE,
    message:
        "dual_modes: retrieval vs learning sweep (Figure 4)"
    script:
        "../scripts/dual_modes/modes.py"


rule dual_modes_closer_task:
    input:
        lib=lib("workflow/scripts/dual_modes/closer_task.py"),
    output:
        table=results_path("dual_modes/metrics/fig5_closer_task.parquet"),
    log:
        logs_path("dual_modes/closer_task.log"),
    benchmark:
        results_path("dual_modes/benchmarks/closer_task.tsv")
    conda:
        ENV
    params:
        cfg=study_cfg("dual_modes", "closer_task"),
        seed=study_cfg("dual_modes", "mc_seed"),
        chunk=study_cfg("dual_modes", "chunk"),
        device=CFG["device"],
        scale=SCALE,
    message:
        "dual_modes: risk vs distance of the task to group 1 (Figure 5)"
    script:
        "../scripts/dual_modes/closer_task.py"


rule dual_modes_early_ascent:
    input:
        lib=lib("workflow/scripts/dual_modes/early_ascent.py"),
    output:
        table=results_path("dual_modes/metrics/early_ascent_d{d}.parquet"),
    log:
        logs_path("dual_modes/early_ascent_d{d}.log"),
    benchmark:
        results_path("dual_modes/benchmarks/early_ascent_d{d}.tsv")
    conda:
        ENV
    params:
        d="{d}",
        ks=study_cfg("dual_modes", "early_ascent", "ks"),
        n_prompts=study_cfg("dual_modes", "early_ascent", "n_prompts"),
        seed=study_cfg("dual_modes", "mc_seed"),
        chunk=study_cfg("dual_modes", "chunk"),
        device=CFG["device"],
        scale=SCALE,
    message:
        "dual_modes: early-ascent Bayes risk, d={wildcards.d} (Figure 6)"
    script:
        "../scripts/dual_modes/early_ascent.py"


rule dual_modes_train:
    input:
        lib=lib("workflow/scripts/dual_modes/train.py"),
    output:
        model=results_path(
            "dual_modes/checkpoints/transformer_d{delta}_s{seed}.safetensors"
        ),
        history=results_path(
            "dual_modes/metrics/train_history_d{delta}_s{seed}.parquet"
        ),
    log:
        logs_path("dual_modes/train_d{delta}_s{seed}.log"),
    benchmark:
        results_path("dual_modes/benchmarks/train_d{delta}_s{seed}.tsv")
    wildcard_constraints:
        delta=r"\d+_\d+",
    conda:
        ENV
    threads: 8  # capped at --cores; CPU training uses them all
    resources:
        gpu=gpu_request(),
        runtime=90,
        mem_mb=8000,
    params:
        cfg=lambda w: {
            **omit(DM_TF, "eval_prompts", "fig9_deltas"),
            "delta": w.delta.replace("_", "/"),
        },
        seed="{seed}",
        device=CFG["device"],
        scale=SCALE,
        # Resume state lives outside declared outputs: Snakemake deletes those when a job fails.
        state=scratch_path("dual_modes/transformer_d{delta}_s{seed}.state.pt"),
    message:
        "dual_modes: training the transformer on the mixture prior (delta {wildcards.delta}), seed {wildcards.seed}"
    script:
        "../scripts/dual_modes/train.py"


rule dual_modes_evaluate:
    input:
        model=rules.dual_modes_train.output.model,
        lib=lib("workflow/scripts/dual_modes/evaluate.py"),
    output:
        table=results_path("dual_modes/metrics/transformer_d{delta}_s{seed}.parquet"),
    log:
        logs_path("dual_modes/evaluate_d{delta}_s{seed}.log"),
    benchmark:
        results_path("dual_modes/benchmarks/evaluate_d{delta}_s{seed}.tsv")
    wildcard_constraints:
        delta=r"\d+_\d+",
    conda:
        ENV
    threads: 8  # capped at --cores; CPU training uses them all
    resources:
        gpu=gpu_request(),
        runtime=30,
        mem_mb=8000,
    params:
        cfg=lambda w: {
            **pick(DM_TF, "num_k", "eval_prompts"),
            "delta": w.delta.replace("_", "/"),
        },
        seed="{seed}",
        device=CFG["device"],
        scale=SCALE,
    message:
        "dual_modes: transformer vs Bayes on in-context prompts (delta {wildcards.delta}), seed {wildcards.seed}"
    script:
        "../scripts/dual_modes/evaluate.py"


rule dual_modes_figures:
    input:
        modes=rules.dual_modes_modes.output.table,
        closer=rules.dual_modes_closer_task.output.table,
        ascent=expand(
            rules.dual_modes_early_ascent.output.table,
            d=study_cfg("dual_modes", "early_ascent", "dims"),
        ),
        evals=expand(
            rules.dual_modes_evaluate.output.table, delta=DM_TAGS[0], seed=SEEDS
        ),
        histories=expand(
            rules.dual_modes_train.output.history, delta=DM_TAGS[0], seed=SEEDS
        ),
        fig9=expand(rules.dual_modes_evaluate.output.table, delta=DM_TAGS, seed=SEEDS),
        lib=lib("workflow/scripts/dual_modes/figures.py"),
    output:
        modes=report(
            results_path("dual_modes/figures/fig4_modes.png"),
            caption="../report/dual_modes/fig4_modes.rst",
            category="dual_modes",
        ),
        posterior=report(
            results_path("dual_modes/figures/fig4_posterior.png"),
            caption="../report/dual_modes/fig4_posterior.rst",
            category="dual_modes",
        ),
        closer=report(
            results_path("dual_modes/figures/fig5_closer_task.png"),
            caption="../report/dual_modes/fig5_closer_task.rst",
            category="dual_modes",
        ),
        ascent=report(
            results_path("dual_modes/figures/fig6_early_ascent.png"),
            caption="../report/dual_modes/fig6_early_ascent.rst",
            category="dual_modes",
        ),
        transformer=report(
            results_path("dual_modes/figures/transformer_vs_bayes.png"),
            caption="../report/dual_modes/transformer_vs_bayes.rst",
            category="dual_modes",
        ),
        fig9=report(
            results_path("dual_modes/figures/fig9_crossover.png"),
            caption="../report/dual_modes/fig9_crossover.rst",
            category="dual_modes",
        ),
    log:
        logs_path("dual_modes/figures.log"),
    localrule: True
    conda:
        ENV
    params:
        scale=SCALE,
    message:
        "dual_modes: figures"
    script:
        "../scripts/dual_modes/figures.py"


rule dual_modes_claims:
    input:
        modes=rules.dual_modes_modes.output.table,
        closer=rules.dual_modes_closer_task.output.table,
        ascent=expand(
            rules.dual_modes_early_ascent.output.table,
            d=study_cfg("dual_modes", "early_ascent", "dims"),
        ),
        evals=expand(rules.dual_modes_evaluate.output.table, delta=DM_TAGS, seed=SEEDS),
        lib=lib("workflow/scripts/dual_modes/claims.py"),
    output:
        claims=results_path("dual_modes/claims.json"),
        metrics=results_path("dual_modes/metrics.json"),
    log:
        logs_path("dual_modes/claims.log"),
    localrule: True
    conda:
        ENV
    params:
        scale=SCALE,
        transformer_delta=DM_DELTAS[0],
        gates=study_cfg("dual_modes", "gates"),
        seed_set=SEED_SET,
    message:
        "dual_modes: checking the paper's claims"
    script:
        "../scripts/dual_modes/claims.py"


rule dual_modes_all:
    input:
        rules.dual_modes_claims.output,
        rules.dual_modes_figures.output,


STUDY_TARGETS["dual_modes"] = rules.dual_modes_all.input
