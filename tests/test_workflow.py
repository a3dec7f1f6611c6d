"""The workflow end to end at smoke scale, in a throwaway copy of the repository.

One session-wide smoke run (conftest.py); the tests then check its outputs, that nothing is left to do, that a change
reruns exactly its dependents, that a bad config stops before any job, the HTML report, and the DVC
restore sequence (push, fresh clone, pull, touch, nothing to do).
"""

import json
import shutil

import pandas as pd
import pytest
import yaml
from wf import copy_repo, planned_rules, restored, sh

from repro.core.io import read_provenance

pytestmark = pytest.mark.workflow


def test_smoke_run_writes_every_artifact(smoke):
    res = smoke / "results/dual_modes"
    claims = json.loads((res / "claims.json").read_text())
    assert {c["id"] for c in claims} == {"retrieval_then_learning", "no_retrieval_large_delta",
                                        "posterior_concentrates", "crossover_nonincreasing", "closer_task_lower_risk",
                                        "early_ascent",
                                        "transformer_tracks_bayes", "crossover_follows_bayes"}
    assert all(c["holds"] is None and c["scale"] == "smoke" and c["measured"] for c in claims)
    ev = pd.read_parquet(res / "metrics/transformer_d1_16_s0.parquet")
    assert {"k", "tf_err_learning", "bayes_err_learning", "tf_vs_bayes"} <= set(ev.columns) and len(ev) == 8
    assert set(pd.read_parquet(res / "metrics/transformer_d1_4_s0.parquet").delta) == {"1/4"}  # Figure 9's prior
    ea = pd.read_parquet(res / "metrics/early_ascent_d1.parquet")
    assert ea.k.tolist() == [0, 1, 4, 16, 64, 256] and (ea.risk > 0).all()
    for fig in ["fig4_modes", "fig4_posterior", "fig5_closer_task", "fig6_early_ascent", "transformer_vs_bayes",
                "fig9_crossover"]:
        assert (res / f"figures/{fig}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (smoke / "results/REPORT.md").read_text()
    assert all(c["id"] in report for c in claims)
    ftc = json.loads((smoke / "results/ftc/claims.json").read_text())
    assert {c["id"] for c in ftc} >= {"constructions_exact", "neuron_counts_independent_of_K", "lower_bounds",
                                      "trained_widths_scale"}
    assert "## ftc" in report
    cons = pd.read_parquet(smoke / "results/ftc/metrics/constructions.parquet")
    assert (cons.max_err == 0).all() and (cons.neurons == cons.formula).all()
    entp = smoke / "results/entp"
    assert {c["id"] for c in json.loads((entp / "claims.json").read_text())} == {
        "count3_separation", "count3_encoder_lower_loss", "addition_sample_efficiency", "length_generalisation"}
    curves = pd.read_parquet(entp / "metrics/count3_encoder_s0.parquet").dropna(subset=["seq_acc"])
    assert curves.step.tolist() == [25, 50] and curves.token_acc.between(0, 1).all()
    add = pd.read_parquet(entp / "metrics/addition_lm_reversed_encoder_n150.parquet")
    assert (add.overlap == 0).all() and add.objective.eq("lm").all()
    assert (add.seq_acc == add.seq_acc_teacher_forced).all()  # greedy generation = teacher forcing
    length = pd.read_parquet(entp / "metrics/length_decoder.parquet")
    assert set(length.long_digits) == {1, 2, 3, 4} and length.groupby("split").n.sum().tolist() == [50, 50]
    for fig in ["count3_learning_curves", "addition_sample_efficiency", "length_generalisation"]:
        assert (entp / f"figures/{fig}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## entp" in report
    mb = smoke / "results/multibin_batching"
    assert {c["id"] for c in json.loads((mb / "claims.json").read_text())} == {
        "capacity_closed_form", "capacity_grows_with_k", "equal_mass_optimal_uniform", "low_load_latency",
        "more_bins_lower_latency_near_capacity", "optimised_bins_heavy_tail", "noise_reduces_gain",
        "llm_step_gain_follows_theory", "llm_gain_follows_theory", "throughput_grows_with_batch"}
    cap = pd.read_parquet(mb / "metrics/capacity.parquet")
    assert cap.k.tolist() == [1, 2, 4] and (cap.rel_err.abs() < 0.03).all()  # the brief's smoke check
    thr = pd.read_parquet(mb / "metrics/llm_throughput.parquet")
    assert thr.useful_tokens.nunique() == 1 and (thr.model == "tiny-random").all()
    for fig in ["capacity_vs_k", "load_sweep", "noise_ablation", "heavy_tail", "llm_gain"]:
        assert (mb / f"figures/{fig}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tv = smoke / "results/task_vectors"
    assert {c["id"] for c in json.loads((tv / "claims.json").read_text())} == {
        "task_vectors_emerge", "location_moves_with_context", "location_moves_with_depth", "tvp_loss_strong_vectors",
        "tvp_loss_keeps_icl", "tvp_loss_improves_ood", "deeper_layer_helps_more"}
    sweep = pd.read_parquet(tv / "metrics/tvp_tvp_l1_s0.parquet")
    assert sorted(sweep.layer.unique()) == [0, 1, 2] and sorted(sweep.k.unique()) == [2, 4]
    assert set(sweep[sweep.k == 4].vectors) == {"per-prompt", "task-averaged", "task-added", "linear probe"}
    base = pd.read_parquet(tv / "metrics/tvp_baseline_s0.parquet")  # the baseline also gets the MLP probes
    assert {"mlp probe", "mlp probe, untrained"} <= set(base.vectors)
    assert sweep.tvp.between(0, 1).all()
    for fig in ["tvp_by_layer", "tvp_location", "task_vector_pca", "ood_icl"]:
        assert (tv / f"figures/{fig}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ts = smoke / "results/task_superposition"
    assert {c["id"] for c in json.loads((ts / "claims.json").read_text())} == {
        "scratch_monotone", "scratch_calibrated", "per_prompt_one_hot", "task_vector_interpolation",
        "llm_superposition", "llm_follows_mixture", "llm_task_vector_interpolation"}
    mix = pd.read_parquet(ts / "metrics/mixing_bias_add_simple_s0.parquet")
    assert sorted(mix.p.unique()) == [0.0, 0.5, 1.0] and (mix.share0 == mix.p).all()  # exact shares
    assert mix[["p_task0", "p_task1", "p_other"]].sum(axis=1).round(6).eq(1).all() and (mix.p_other >= -1e-6).all()
    llm = pd.read_parquet(ts / "metrics/llm_mixing.parquet")
    assert set(llm.mixture) == {"pair", "uniform"} and llm.prob.between(0, 1).all()
    for fig in ["scratch_mixing", "scratch_per_prompt", "task_vector_interpolation", "learning_curves", "llm_mixing",
                "llm_task_vectors"]:
        assert (ts / f"figures/{fig}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## task_superposition" in report
    sp = smoke / "results/ssm_peft"
    assert {c["id"] for c in json.loads((sp / "claims.json").read_text())} == {
        "s4_sdt_beats_lora_ssm", "s4_full_ft_bounds", "prompt_state_worst", "lora_linear_beats_lora_ssm",
        "sdt_matches_best_lora", "sdt_adds_to_its_lora"}
    ft = pd.read_parquet(sp / "metrics/finetune_s0.parquet")
    assert ft.method.nunique() == len(ft) == 9 and ft.accuracy.between(0, 1).all() and (ft.overlap == 0).all()
    assert (ft.n_trainable <= ft.n_total).all() and ft.loc[ft.kind == "full", "trainable_pct"].eq(100).all()
    s4 = pd.read_parquet(sp / "metrics/synthetic_s0.parquet")
    assert set(s4.sign) == {"", "fixed", "upstream"} and (s4.mse > 0).all()
    assert (sp / "figures/ssm_peft_budget.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## ssm_peft" in report
    fa = smoke / "results/fed_agem"
    assert {c["id"] for c in json.loads((fa / "claims.json").read_text())} == {
        "fedagem_raises_accuracy", "gains_largest_in_split", "fedagem_less_forgetting", "boundary_free_comparable",
        "projection_orthogonal"}
    runs = pd.concat([pd.read_parquet(fa / f"metrics/{s}_s0.parquet") for s in ("rotated", "split")])
    assert set(runs.setting) == {"domain", "class", "task"} and runs.avg_acc.between(0, 1).all()
    assert (runs[runs.fed_agem].max_residual < 1e-4).all() and (runs[~runs.fed_agem].triggered == 0).all()
    for fig in ["fed_agem_accuracy", "fed_agem_summary"]:
        assert (fa / f"figures/{fig}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## fed_agem" in report
    rf = smoke / "results/r2f"
    assert {c["id"] for c in json.loads((rf / "claims.json").read_text())} == {
        "theory_w2_u_shape", "learned_interpolation_rescues_rare", "r2f_beats_vanilla_on_rare", "no_harm_on_frequent",
        "stop_step_trade_off", "r2f_flattens_rarity_curve", "planner_restraint", "judge_accuracy"}
    samples = pd.read_parquet(rf / "metrics/samples_s0.parquet")
    assert samples.alignment.between(0, 100).all() and set(samples.group) == {"rare", "curve"}
    assert samples[samples.group == "rare"].planned_rare.all()
    theory = pd.read_parquet(rf / "metrics/theory.parquet")
    cf = theory[theory.method == "closed_form"].set_index("alpha").w2
    assert cf[1.0] == pytest.approx(19.0, abs=0.01) and cf[0.85] == pytest.approx(2.17, abs=0.01)
    for fig in ["r2f_theory", "r2f_methods", "r2f_stop_steps", "r2f_rarity", "r2f_samples"]:
        assert (rf / f"figures/{fig}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## r2f" in report
    kv = smoke / "results/kv_retrieval"
    assert {c["id"] for c in json.loads((kv / "claims.json").read_text())} == {
        "mdqa_middle_gain", "u_curve_flatter", "template_beats_plain", "no_perplexity_drop", "kv_accuracy_rises"}
    ev = pd.read_parquet(kv / "metrics/eval_template_s0.parquet")
    assert set(ev.task) == {"kv", "mdqa", "ppl"} and set(ev[ev.task == "mdqa"]["where"]) == {"first", "middle", "last"}
    answered, ppl = ev[ev.task != "ppl"], ev[ev.task == "ppl"]  # "ppl": the held-out text's per-sentence terms
    assert answered.correct.isin([0.0, 1.0]).all() and (ev.kv_overlap == 0).all() and (ev.perplexity > 1).all()
    assert (ppl.nll > 0).all() and (ppl.tokens > 0).all() and ppl.qid.is_unique
    first = json.loads((kv / "data/train_template_s0.jsonl").read_text().splitlines()[0])
    assert [m["role"] for m in first["messages"]] == ["user", "assistant"]
    assert first["messages"][1]["content"].startswith("The value of key ")
    for fig in ["kv_retrieval_positions", "kv_retrieval_kv", "kv_retrieval_perplexity"]:
        assert (kv / f"figures/{fig}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## kv_retrieval" in report
    prov = json.loads((res / "claims.json.provenance.json").read_text())
    assert prov["scale"] == "smoke" and len(prov["git_revision"]) >= 40
    assert not (smoke / "scratch/dual_modes/transformer_d1_16_s0.state.pt").exists()  # cleared after success


def test_finished_tree_has_nothing_to_do(smoke):
    assert planned_rules(smoke) == {}


def test_param_change_reruns_only_its_dependents(smoke):
    path = smoke / "config/studies/dual_modes.yaml"
    with restored(path) as original:
        cfg = yaml.safe_load(original)
        cfg["smoke"]["early_ascent"]["n_prompts"] = 3000
        path.write_text(yaml.safe_dump(cfg))
        assert planned_rules(smoke) == {"dual_modes_early_ascent": 1, "dual_modes_figures": 1,
                                        "dual_modes_claims": 1, "report": 1, "all": 1}
        cfg["smoke"]["transformer"]["steps"] = 120
        path.write_text(yaml.safe_dump(cfg))
        assert set(planned_rules(smoke)) == {"dual_modes_early_ascent", "dual_modes_train", "dual_modes_evaluate",
                                             "dual_modes_figures", "dual_modes_claims", "report", "all"}
        cfg["smoke"]["transformer"]["steps"] = 100
        cfg["smoke"]["transformer"]["eval_prompts"] = 300  # evaluation only: must not retrain
        path.write_text(yaml.safe_dump(cfg))
        assert set(planned_rules(smoke)) == {"dual_modes_early_ascent", "dual_modes_evaluate", "dual_modes_figures",
                                             "dual_modes_claims", "report", "all"}
    assert planned_rules(smoke) == {}


def test_library_change_reruns_only_the_rules_that_import_it(smoke):
    fig = smoke / "src/repro/studies/dual_modes/figures.py"
    with restored(fig) as original:
        fig.write_text(original + "\n# an edit\n")
        assert planned_rules(smoke) == {"dual_modes_figures": 1, "all": 1}
    # Same content again: Snakemake's recorded checksum shows the newer mtime is not a change.
    assert planned_rules(smoke) == {}


def test_entp_changes_rerun_only_entp(smoke):
    path = smoke / "config/studies/entp.yaml"
    with restored(path) as original:
        cfg = yaml.safe_load(original)
        cfg["smoke"]["addition"]["lm"]["steps"] = 40
        path.write_text(yaml.safe_dump(cfg))
        # the lm objective only: two formats x two architectures x one training size
        assert planned_rules(smoke) == {"entp_addition": 4, "entp_figures": 1, "entp_claims": 1, "report": 1,
                                        "all": 1}
        cfg["smoke"]["count3"]["models"]["decoder_wide"] = {"arch": "decoder", "n_layer": 1, "n_head": 2,
                                                            "d_model": 64}
        path.write_text(yaml.safe_dump(cfg))  # a new model trains only itself
        assert planned_rules(smoke)["entp_count3"] == 1
    code = smoke / "src/repro/studies/entp/model.py"
    with restored(code) as original:
        code.write_text(original + "\n# an edit\n")
        assert set(planned_rules(smoke)) == {"entp_count3", "entp_addition", "entp_length", "entp_figures",
                                             "entp_claims", "report", "all"}
    assert planned_rules(smoke) == {}


def test_new_seed_adds_jobs_and_reruns_nothing_else(smoke):
    plan = planned_rules(smoke, "--config seeds=[0,1]")
    assert plan == {"dual_modes_train": 2, "dual_modes_evaluate": 2, "dual_modes_figures": 1,
                    "dual_modes_claims": 1, "report": 1, "all": 1}
    # task_superposition (issue 31) and entp's Count3 (issue 32) list their own seeds


def test_lint_and_format_are_clean(smoke):
    lint = sh("snakemake --lint", smoke)
    assert "good condition" in lint.stdout + lint.stderr
    sh("snakefmt --check .", smoke)


def test_html_report_has_every_figure(smoke, tmp_path):
    sh(f"snakemake --report {tmp_path}/report.html", smoke)
    html = (tmp_path / "report.html").read_text(errors="ignore")
    for fig in ["fig4_modes.png", "fig5_closer_task.png", "fig6_early_ascent.png", "transformer_vs_bayes.png",
                "ftc_scaling.png", "ftc_independence_of_K.png", "count3_learning_curves.png",
                "addition_sample_efficiency.png", "length_generalisation.png", "capacity_vs_k.png", "llm_gain.png",
                "tvp_by_layer.png", "task_vector_pca.png", "scratch_mixing.png", "llm_mixing.png", "REPORT.html"]:
        assert fig in html
    assert "early ascent" in html
    # the claims table is its own item, beside the figures
    table = (smoke / "results/REPORT.html").read_text()
    assert table.startswith("<!DOCTYPE html>") and "<b>early_ascent</b>" in table and "Sanity checks" in table


def test_robustness_runs_the_alternate_seed_set_beside_the_default(smoke, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(smoke, repo, symlinks=True)  # leave the shared smoke run as it was
    default = (repo / "results/ftc/claims.json").read_text()
    sh("snakemake --cores 2 ftc_robustness", repo)
    alt = json.loads((repo / "results/seed_set_1/ftc/claims.json").read_text())
    assert {c["id"] for c in alt} == {c["id"] for c in json.loads(default)}
    assert (repo / "results/ftc/claims.json").read_text() == default  # the default set is untouched
    # every seed moved to the disjoint set: ftc's `seed: 0` ran as 1000, and the claims bootstrap with set 1
    assert {read_provenance(p)["seed"] for p in (repo / "results/seed_set_1/ftc").rglob("*.parquet")} == {1000}
    assert read_provenance(repo / "results/seed_set_1/ftc/claims.json")["params"]["seed_set"] == 1
    report = (repo / "results/REPORT.md").read_text()
    ftc_part = report.split("## ftc")[1].split("\n## ")[0]
    assert "seed set 1 | stable?" in ftc_part and "stable (absent)" in ftc_part  # smoke verdicts are blank
    assert "seed set 1" not in report.split("## ftc")[0]  # only the study that ran under both sets
    assert planned_rules(repo) == {}  # the report already shows the alternate set
    # an edit to what the nested run reads (here ftc's config) brings the alternate set back into date when
    # robustness is asked for, and never starts it from a default run
    cfg = repo / "config/studies/ftc.yaml"
    cfg.write_text(cfg.read_text() + "\n")
    assert planned_rules(repo) == {}
    assert planned_rules(repo, "ftc_robustness") == {"robustness_claims": 1, "report": 1, "ftc_robustness": 1}


@pytest.mark.parametrize("override, key", [("scale=huge", "'scale'"), ("devic=cpu", "'devic'"),
                                           ("seeds=[0,x]", "'seeds.1'")])
def test_bad_config_stops_before_any_job(tmp_path, override, key):
    repo = copy_repo(tmp_path)
    proc = sh(f"snakemake --cores 1 --config {override}", repo, check=False)
    assert proc.returncode != 0
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "repro config error" in ln]
    assert len(lines) == 1 and key in lines[0], proc.stderr
    assert [p.name for p in (repo / "results").iterdir()] == [".gitignore"]  # the tracked file only


def test_dvc_restore_from_a_remote_needs_no_recompute(smoke, tmp_path):
    origin, remote = tmp_path / "origin", tmp_path / "remote"
    shutil.copytree(smoke, origin, symlinks=True)  # leave the shared smoke run as it was
    sh(f"dvc remote add -f -d test {remote} && dvc commit -f -q && dvc push -q", origin)
    sh("git add -A && git -c user.email=t@t -c user.name=t commit -qm results", origin)
    clone = tmp_path / "clone"
    sh(f"git clone -q {origin} {clone}", tmp_path)
    assert not (clone / "results/dual_modes/claims.json").exists()
    sh("dvc pull -q", clone)
    assert (clone / "results/dual_modes/checkpoints/transformer_d1_16_s0.safetensors").exists()
    sh("snakemake --touch --cores 1", clone)
    assert planned_rules(clone) == {}
    metrics = sh("dvc metrics show --json", clone).stdout
    assert "early_ascent" in metrics and "transformer_tracks_bayes" in metrics
    status = sh("dvc status", clone).stdout
    assert "up to date" in status.lower() or status.strip() == "", status
