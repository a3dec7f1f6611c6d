"""The training loop: a tiny model actually learns, and a killed run resumes to the same result."""

import json
import signal
import subprocess
import sys
import textwrap
import time

import torch

from repro.core.train import TrainConfig, epoch_batch, fit, lr_at, step_generator, step_of
from repro.models.gpt import GPT, GPTConfig
from repro.studies.dual_modes import data as P
from repro.studies.dual_modes import train as T


def test_lr_schedule_warms_up_then_decays():
    cfg = TrainConfig(steps=100, lr=1.0, warmup=10, min_lr_ratio=0.1)
    lrs = [lr_at(s, cfg) for s in range(100)]
    assert lrs[0] == 0.1 and abs(lrs[9] - 1.0) < 1e-12
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:])) and abs(lrs[-1] - 0.1) < 0.01


def test_tiny_gpt_learns_in_context_regression():
    """On a single-group prior (plain 1-d linear regression) the model must learn to use the demos."""
    prior = P.Prior(mu=torch.zeros(1, 1), w=torch.zeros(1, 1), pi=torch.ones(1), sigma_x=1.0, sigma_y=0.1,
                    sigma_mu=0.01, sigma_w=1.0)
    mc = T.model_config(1, 8, n_layer=2, n_head=2, d_model=32)
    model, hist = T.train(prior, mc, 8, 64, TrainConfig(steps=300, lr=3e-3, warmup=20, log_every=50), seed=0,
                          device=torch.device("cpu"))
    X, Y = P.sample_pretraining(prior, 1024, 8, torch.Generator().manual_seed(99))
    with torch.no_grad():
        err = ((T.predict(model, X, Y) - Y) ** 2).mean(0)
    # Without demos nothing beats Var(y) ~ 1; with 4+ demos a learner gets close to the noise floor 0.01.
    assert err[0] > 0.5
    assert err[4:].mean() < 0.25 * err[0]
    assert hist.loss.iloc[-1] < hist.loss.iloc[0]


RESUME_SCRIPT = textwrap.dedent("""
    import json, sys, torch
    from repro.core.train import TrainConfig
    from repro.studies.dual_modes import data as P, train as T
    torch.set_num_threads(1)
    state, out, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    prior = P.regular4(1 / 9, torch.float32)
    mc = T.model_config(3, 6, n_layer=2, n_head=2, d_model=32)
    cfg = TrainConfig(steps=steps, lr=1e-3, warmup=5, log_every=5, save_every=10)
    model, hist = T.train(prior, mc, 6, 16, cfg, seed=3, device=torch.device("cpu"), state_path=state,
                          run_hash="test")
    X, Y = P.sample_pretraining(prior.to(dtype=torch.float32), 64, 6, torch.Generator().manual_seed(1))
    with torch.no_grad():
        mse = ((T.predict(model, X, Y) - Y) ** 2).mean().item()
    json.dump({"mse": mse, "losses": hist.loss.tolist(),
               "weights": [p.detach().double().sum().item() for p in model.parameters()]}, open(out, "w"))
""")


def _run(tmp_path, name, steps, state):
    out = tmp_path / f"{name}.json"
    return subprocess.Popen([sys.executable, "-c", RESUME_SCRIPT, str(state), str(out), str(steps)],
                            stderr=subprocess.PIPE, text=True), out


def test_killed_run_resumes_to_the_same_result(tmp_path):
    steps = 400
    ref, ref_out = _run(tmp_path, "ref", steps, tmp_path / "ref_state.pt")
    assert ref.wait(timeout=300) == 0, ref.stderr.read()

    state = tmp_path / "state.pt"
    victim, _ = _run(tmp_path, "victim", steps, state)
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline:  # kill only once a resume state is on disk
        time.sleep(0.05)
    time.sleep(0.3)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert state.exists(), "no resume state was written before the kill"
    saved_step = torch.load(state, weights_only=True)["step"]
    assert 0 < saved_step < steps, "the victim finished before it could be killed; test is vacuous"

    resumed, out = _run(tmp_path, "resumed", steps, state)
    assert resumed.wait(timeout=300) == 0
    log = resumed.stderr.read()
    assert "resuming from step" in log
    a, b = json.loads(ref_out.read_text()), json.loads(out.read_text())
    assert abs(a["mse"] - b["mse"]) < 1e-6
    assert all(abs(x - y) < 1e-5 for x, y in zip(a["weights"], b["weights"]))
    assert len(a["losses"]) == len(b["losses"]) == steps // 5
    assert all(abs(x - y) < 1e-6 for x, y in zip(a["losses"], b["losses"]))


def test_state_from_another_config_is_ignored(tmp_path):
    state = tmp_path / "state.pt"
    batch = lambda g: torch.randn(4, 4, 2, generator=g)  # noqa: E731
    loss = lambda m, x: m(x).pow(2).mean()  # noqa: E731

    def run(cfg, run_hash, state_path):
        torch.manual_seed(0)
        model = GPT(GPTConfig(n_layer=1, n_head=1, d_model=8, max_len=4, d_in=2, d_out=1))
        hist = fit(model, batch, loss, cfg, seed=0, device=torch.device("cpu"), state_path=state_path,
                   run_hash=run_hash)
        return model, hist

    run(TrainConfig(steps=20, lr=1e-3, save_every=10), "a", state)
    assert torch.load(state, weights_only=True)["step"] == 10
    cfg_b = TrainConfig(steps=20, lr=1e-2, save_every=100, log_every=5)
    model_b, hist = run(cfg_b, "b", state)  # another config: must start from scratch
    fresh, _ = run(cfg_b, "b", None)
    assert hist.step.tolist() == [5, 10, 15, 20]
    for p, q in zip(model_b.parameters(), fresh.parameters()):
        torch.testing.assert_close(p, q)


def test_epochs_are_permutations_and_a_resumed_run_draws_the_same_batches():
    n, batch = 10, 4
    steps = [epoch_batch(n, batch, 3, s) for s in range(5)]  # 20 draws = 2 epochs
    flat = [i for b in steps for i in b]
    assert sorted(flat[:n]) == list(range(n)) and sorted(flat[n:]) == list(range(n))
    assert flat[:n] != flat[n:]  # a fresh permutation each epoch
    assert steps == [epoch_batch(n, batch, 3, s) for s in range(5)] and steps != [epoch_batch(n, batch, 4, s)
                                                                                     for s in range(5)]
    assert step_of(step_generator(3, 17, torch.device("cpu")), 3) == 17
