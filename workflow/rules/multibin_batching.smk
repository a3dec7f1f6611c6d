# multibin_batching: closed forms, a discrete-event simulator and real static batched LLM generation.
# Flow: capacity (+ equal-mass optimality), three simulator experiments, LLM timing -> figures, claims.


rule multibin_capacity:
    input:
        lib=lib("workflow/scripts/multibin_batching/capacity.py"),
    output:
        capacity=results_path("multibin_batching/metrics/capacity.parquet"),
        equal_mass=results_path("multibin_batching/metrics/equal_mass.parquet"),
    log:
        logs_path("multibin_batching/capacity.log"),
    benchmark:
        results_path("multibin_batching/benchmarks/capacity.tsv")
    conda:
        ENV
    params:
        cfg=study_cfg("multibin_batching", "capacity"),
        seed=study_cfg("multibin_batching", "seed"),
        device="cpu",
        scale=SCALE,
    message:
        "multibin_batching: simulated vs closed-form capacity"
    script:
        "../scripts/multibin_batching/capacity.py"


rule multibin_simulate:
    input:
        lib=lib("workflow/scripts/multibin_batching/simulate.py"),
    output:
        table=results_path("multibin_batching/metrics/{experiment}.parquet"),
    log:
        logs_path("multibin_batching/{experiment}.log"),
    benchmark:
        results_path("multibin_batching/benchmarks/{experiment}.tsv")
    wildcard_constraints:
        experiment="heavy_tail|noise|load",
    conda:
        ENV
    params:
        cfg=lambda w: study_cfg("multibin_batching", w.experiment),
        seed=study_cfg("multibin_batching", "seed"),
        device="cpu",
        scale=SCALE,
    message:
        "multibin_batching: simulator experiment {wildcards.experiment}"
    script:
        "../scripts/multibin_batching/simulate.py"


rule multibin_llm:
    input:
        lib=lib("workflow/scripts/multibin_batching/llm.py"),
    output:
        throughput=results_path("multibin_batching/metrics/llm_throughput.parquet"),
        steps=results_path("multibin_batching/metrics/llm_step_time.parquet"),
        planned=results_path("multibin_batching/metrics/llm_planned_steps.parquet"),
    log:
        logs_path("multibin_batching/llm.log"),
    benchmark:
        results_path("multibin_batching/benchmarks/llm.tsv")
    conda:
        ENV
    threads: 8  # capped at --cores; timing runs alone on the machine's cores
    resources:
        gpu=gpu_request(),
        runtime=60,
        mem_mb=4000,
    params:
        cfg=omit(
            study_cfg("multibin_batching", "llm"),
            "gain_tolerance",
            "step_gain_tolerance",
        ),
        seed=study_cfg("multibin_batching", "seed"),
        device=CFG["device"],
        scale=SCALE,
    message:
        "multibin_batching: static batched generation with {params.cfg[model]}"
    script:
        "../scripts/multibin_batching/llm.py"


MULTIBIN_TABLES = dict(
    capacity=rules.multibin_capacity.output.capacity,
    equal_mass=rules.multibin_capacity.output.equal_mass,
    heavy_tail=results_path("multibin_batching/metrics/heavy_tail.parquet"),
    noise=results_path("multibin_batching/metrics/noise.parquet"),
    load=results_path("multibin_batching/metrics/load.parquet"),
    llm=rules.multibin_llm.output.throughput,
    steps=rules.multibin_llm.output.steps,
    planned=rules.multibin_llm.output.planned,
)


rule multibin_figures:
    input:
        **MULTIBIN_TABLES,
        lib=lib("workflow/scripts/multibin_batching/figures.py"),
    output:
        capacity=report(
            results_path("multibin_batching/figures/capacity_vs_k.png"),
            caption="../report/multibin_batching/capacity_vs_k.rst",
            category="multibin_batching",
        ),
        load=report(
            results_path("multibin_batching/figures/load_sweep.png"),
            caption="../report/multibin_batching/load_sweep.rst",
            category="multibin_batching",
        ),
        noise=report(
            results_path("multibin_batching/figures/noise_ablation.png"),
            caption="../report/multibin_batching/noise_ablation.rst",
            category="multibin_batching",
        ),
        heavy_tail=report(
            results_path("multibin_batching/figures/heavy_tail.png"),
            caption="../report/multibin_batching/heavy_tail.rst",
            category="multibin_batching",
        ),
        llm=report(
            results_path("multibin_batching/figures/llm_gain.png"),
            caption="../report/multibin_batching/llm_gain.rst",
            category="multibin_batching",
        ),
    log:
        logs_path("multibin_batching/figures.log"),
    localrule: True
    conda:
        ENV
    params:
        heavy_tail=study_cfg("multibin_batching", "heavy_tail", "distribution"),
        seed=study_cfg("multibin_batching", "seed"),  # the length histogram's sample
        scale=SCALE,
    message:
        "multibin_batching: figures"
    script:
        "../scripts/multibin_batching/figures.py"


rule multibin_claims:
    input:
        **MULTIBIN_TABLES,
        lib=lib("workflow/scripts/multibin_batching/claims.py"),
    output:
        claims=results_path("multibin_batching/claims.json"),
        metrics=results_path("multibin_batching/metrics.json"),
    log:
        logs_path("multibin_batching/claims.log"),
    localrule: True
    conda:
        ENV
    params:
        gain_tolerance=study_cfg("multibin_batching", "llm", "gain_tolerance"),
        step_gain_tolerance=study_cfg("multibin_batching", "llm", "step_gain_tolerance"),
        scale=SCALE,
        seed_set=SEED_SET,
    message:
        "multibin_batching: checking the paper's claims"
    script:
        "../scripts/multibin_batching/claims.py"


rule multibin_all:
    input:
        rules.multibin_claims.output,
        rules.multibin_figures.output,


STUDY_TARGETS["multibin_batching"] = rules.multibin_all.input
