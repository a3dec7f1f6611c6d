"""entp library (issue 4): the Count3 generator, no future leakage, batched prefixes = the per-prefix loop,
generation = teacher forcing, a tiny encoder actually learning, and the claim rules on hand-made tables."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from repro.studies.entp import data as D
from repro.studies.entp import model as M
from repro.studies.entp import train as T


@pytest.mark.parametrize("block, seed_len, vocab", [(12, 4, 12), (20, 5, 20), (33, 8, 32)])
def test_count3_generator_equals_the_brute_force_count(block, seed_len, vocab):
    x = D.count3(16, block, seed_len, vocab, torch.Generator().manual_seed(block))
    assert x.shape == (16, block + 1) and int(x[:, :seed_len].max()) < vocab
    for row in x.tolist():
        for n in range(seed_len, block + 1):
            assert row[n] == D.count3_brute(row[:n]), (row, n)
            assert 0 <= row[n] < n  # the modulus is the current length


def test_count3_uses_the_current_length_as_modulus():
    # prefix (6, 6, 6, 1): n = 4, x_n = 1; pairs with x_i + x_j = 3 (mod 4): residues 2, 2, 2, 1 -> (2, 1) and
    # (1, 2), 3 each = 6 pairs -> 6 mod 4 = 2. A fixed modulus 64 would give 0, the n+1 variant 0 as well.
    assert D.count3_brute([6, 6, 6, 1]) == 2
    full = D.count3(200, 4, 4, 8, torch.Generator().manual_seed(0))  # seed tokens + one generated token
    assert [int(r[4]) for r in full] == [D.count3_brute(r[:4].tolist()) for r in full]
    assert (full[:, 4] < 4).all() and (full[:, 4] > 0).any()  # values mod n = 4, not mod the vocabulary 8


def _models(vocab=12, max_len=12):
    torch.manual_seed(0)
    return {arch: M.make_model(arch, 2, 2, 32, vocab, max_len).eval() for arch in ("encoder", "decoder")}


@pytest.mark.parametrize("arch", ["encoder", "decoder"])
def test_no_future_leakage(arch):
    model = _models()[arch]
    x = D.count3(4, 12, 4, 12, torch.Generator().manual_seed(1))[:, :-1]
    pos = torch.arange(12)
    base = M.next_token_logits(model, x, pos, buckets=3)
    for t in range(11):
        y = x.clone()
        y[:, t + 1:] = (y[:, t + 1:] + 5) % 12  # change every later token
        out = M.next_token_logits(model, y, pos, buckets=3)
        torch.testing.assert_close(out[:, : t + 1], base[:, : t + 1], atol=1e-5, rtol=0)
        assert (out[:, t + 1:] - base[:, t + 1:]).abs().max() > 1e-4  # later predictions do see the change


def test_encoder_attends_bidirectionally_within_the_prefix():
    enc, dec = _models()["encoder"], _models()["decoder"]
    x = D.count3(2, 12, 4, 12, torch.Generator().manual_seed(2))[:, :-1]
    # the encoder's hidden state at position 0 depends on token 5 when the prefix includes it; the decoder's not
    for model, sees in ((enc, True), (dec, False)):
        _, h = model(x, read=[2])
        y = x.clone()
        y[:, 5] = (y[:, 5] + 3) % 12
        _, h2 = model(y, read=[2])
        assert ((h[2][:, 0] - h2[2][:, 0]).abs().max() > 1e-5) == sees


@pytest.mark.parametrize("buckets", [1, 2, 5])
@pytest.mark.parametrize("arch", ["encoder", "decoder"])
def test_batched_prefixes_equal_the_per_prefix_loop(arch, buckets):
    model = _models()[arch]
    x = D.count3(3, 12, 4, 12, torch.Generator().manual_seed(3))[:, :-1]
    positions = D.count3_positions(12, 4)
    fast = M.next_token_logits(model, x, torch.tensor(positions), buckets=buckets)
    slow = M.next_token_logits_loop(model, x, positions)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)


def test_per_row_positions_match_the_loop():
    model = _models(D.ADD_VOCAB, 16)["encoder"]
    tok, plen, tlen = D.encode_addition(torch.tensor([7, 123, 45]), torch.tensor([5, 999, 6]), reverse=True)
    pos, valid = T.answer_positions(plen, tlen)
    fast = M.next_token_logits(model, tok, pos, buckets=2)
    for b in range(3):
        slow = M.next_token_logits_loop(model, tok[b:b + 1], pos[b].tolist())[0]
        torch.testing.assert_close(fast[b], slow, atol=1e-5, rtol=1e-5)


def test_addition_encoding_round_trips():
    a, b = torch.tensor([0, 7, 123, 999, 10**17]), torch.tensor([0, 5, 456, 1, 10**17 - 1])
    tok, plen, tlen = D.encode_addition(a, b, reverse=False)
    assert [D.decode(r) for r in tok] == [f"${x}+{y}={x + y}$" for x, y in zip(a.tolist(), b.tolist())]
    tok, _, _ = D.encode_addition(a, b, reverse=True)
    assert [D.decode(r) for r in tok] == [f"${x}+{y}={str(x + y)[::-1]}$" for x, y in zip(a.tolist(), b.tolist())]
    assert plen.tolist() == [len(f"${x}+{y}=") for x, y in zip(a.tolist(), b.tolist())]


def test_entp_split_follows_the_repository_recipe():
    train, test = D.entp_addition_split(1250, 500, 3, seed=0, top_keep=0.1)
    assert len(train) == 1250 and len(test) == 500
    assert not {tuple(p) for p in train.tolist()} & {tuple(p) for p in test.tolist()}
    one = [(i, j) for i in range(10) for j in range(10)]
    assert [tuple(p) for p in train[-100:].tolist()] == one  # every one-digit pair, in training only
    nd = lambda p: np.maximum(D.n_digits(p[:, 0]), D.n_digits(p[:, 1]))  # noqa: E731
    assert (nd(test) > 1).all() and (nd(train[:-100]) > 1).all()
    # the kept universe: all 9,900 two-digit pairs and a tenth of the 990,000 three-digit ones
    assert abs((nd(test) == 2).mean() - 9900 / (9900 + 99000)) < 0.01
    # stratified by (digits, carries): test and training strata in proportion
    key = lambda p: nd(p) * 10 + D.count_carries(p[:, 0], p[:, 1])  # noqa: E731
    tr, te = np.unique(key(train[:-100]), return_counts=True), np.unique(key(test), return_counts=True)
    assert tr[0].tolist() == te[0].tolist()
    assert np.abs(tr[1] / tr[1].sum() - te[1] / te[1].sum()).max() < 0.01
    again, _ = D.entp_addition_split(1250, 500, 3, seed=0, top_keep=0.1)
    other, _ = D.entp_addition_split(1250, 500, 3, seed=1, top_keep=0.1)
    assert (again == train).all() and not (other == train).all()
    with pytest.raises(ValueError, match="n_train"):
        D.entp_addition_split(100, 50, 2, seed=0)


def test_carries_counted_as_the_repository_counts_them():
    def brute(x, y):
        c = n = 0
        for dx, dy in zip(str(x)[::-1].ljust(4, "0"), str(y)[::-1].ljust(4, "0")):
            c = (int(dx) + int(dy) + c) // 10
            n += c > 0
        return n
    a, b = np.random.default_rng(0).integers(0, 1000, (2, 500))
    assert D.count_carries(a, b).tolist() == [brute(x, y) for x, y in zip(a, b)]


def test_packed_stream_yields_a_window_at_every_offset():
    """The repository's block dataset: one window per offset of the packed text, the tail included."""
    pairs = np.array([[12, 34], [5, 7], [99, 1]])
    stream = D.packed_stream(pairs, reverse=True)
    assert D.decode(stream) == "$12+34=64$\n$5+7=21$\n$99+1=001$\n"
    x, y = D.stream_windows(stream, 8)  # 31 tokens: 23 windows, offsets 0..22
    assert x.shape == y.shape == (len(stream) - 8, 8)
    for i in range(len(stream) - 8):
        assert torch.equal(x[i], stream[i:i + 8]) and torch.equal(y[i], stream[i + 1:i + 9]), i
    assert torch.equal(y[-1], stream[-8:])  # the last window ends on the stream's last token: nothing dropped
    # every character after the first is a target at every position it can take in a window
    assert sorted(set(torch.arange(len(stream)).unfold(0, 9, 1)[:, 1:].flatten().tolist())) == list(range(1, 31))
    with pytest.raises(ValueError, match="no window"):
        D.stream_windows(stream[:8], 8)


def test_lm_objective_trains_on_every_character_and_learns():
    """The packed-block loss covers every position (the encoder's every prefix), and a tiny model learns it."""
    train, test = D.entp_addition_split(400, 64, 2, seed=0, top_keep=1.0)
    cfg = dict(model=dict(n_layer=2, n_head=2, d_model=32), block=16, batch=8, steps=150, lr=3e-3,
               weight_decay=0.0, warmup=10, min_lr_ratio=0.1, eval_every=25, save_every=10**6, buckets=2)
    stream = D.packed_stream(train, reverse=True)
    x, _ = D.stream_windows(stream, 16)
    logits = {}
    for arch in ("decoder", "encoder"):
        model, hist = T.train_addition_lm(stream, D.encode_pairs(test, True), cfg, arch, seed=0,
                                          device=torch.device("cpu"))
        assert hist.loss.iloc[0] - hist.loss.iloc[-1] > 0.5, arch  # operand digits are random: the floor is high
        logits[arch] = M.next_token_logits(model, x[:2], torch.arange(16), 2)
        assert logits[arch].shape == (2, 16, D.ADD_VOCAB)
    assert not torch.allclose(logits["decoder"], logits["encoder"])  # two layers: the attention pattern matters


def test_length_split_lengths_as_asked():
    _, (te, plen, _) = D.length_split(10, 400, (1, 3), (5, 7), seed=0)
    for r in te:
        a, b = D.decode(r).strip("$").split("=")[0].split("+")
        assert 1 <= min(len(a), len(b)) <= 3 and 5 <= max(len(a), len(b)) <= 7
    g = torch.Generator().manual_seed(0)
    lens = D._ndigits(D.sample_operands(5000, 1, 18, g))
    assert lens.min() == 1 and lens.max() == 18 and lens.bincount()[1:].min() > 150  # every length drawn


@pytest.mark.parametrize("arch", ["encoder", "decoder"])
def test_generation_without_cache_equals_teacher_forcing(arch):
    model = _models(D.ADD_VOCAB, 16)[arch]
    _, pairs = D.entp_addition_split(150, 64, 3, seed=1, top_keep=0.01)
    test = D.encode_pairs(pairs, True)
    m = T.addition_metrics(model, test, buckets=2)
    assert m["seq_acc"] == m["seq_acc_teacher_forced"]
    # and generation reproduces a greedy per-row loop exactly
    tok, plen, tlen = test
    gen = M.generate(model, tok[:4], plen[:4], 3)
    for b in range(4):
        seq = tok[b, : plen[b]].tolist()
        for _ in range(3):
            seq.append(int(model(torch.tensor([seq]))[0, -1].argmax()))
        assert gen[b].tolist() == seq[-3:]


def test_accuracies_on_hand_made_cases():
    pred = torch.tensor([[1, 2, 3], [1, 0, 3], [0, 0, 0]])
    tgt = torch.tensor([[1, 2, 3], [1, 2, 3], [1, 2, 3]])
    assert T.accuracies(pred, tgt) == {"token_acc": pytest.approx(5 / 9), "seq_acc": pytest.approx(1 / 3)}
    valid = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 0, 0]]).bool()
    assert T.accuracies(pred, tgt, valid) == {"token_acc": pytest.approx(1.0), "seq_acc": pytest.approx(1.0)}


def test_a_tiny_encoder_learns_count3_beyond_chance():
    cfg = dict(block=8, seed_len=3, vocab=8, batch=64, steps=300, lr=3e-3, weight_decay=0.0, warmup=20,
               min_lr_ratio=0.1, eval_every=100, save_every=10**6, eval_sequences=256, test_one_in=8, buckets=2)
    model, hist = T.train_count3(cfg, dict(arch="encoder", n_layer=2, n_head=2, d_model=32), seed=0,
                                 device=torch.device("cpu"))
    first, last = hist.dropna(subset=["token_acc"]).iloc[[0, -1]].to_dict("records")
    assert last["test_loss"] < first["test_loss"] - 0.2 and last["token_acc"] > 0.5
    # the competence gate's measure: this model is well past the plateau; the same model untrained is not
    from repro.studies.entp.claims import _below_plateau
    assert _below_plateau([last["test_loss"]], last["plateau_loss"]) > GATES["count3_below_plateau"]
    fresh = M.make_model("encoder", 2, 2, 32, 8, 8)
    untrained = T.count3_metrics(fresh, T.count3_eval_set(cfg, "cpu", 0), cfg)["test_loss"]
    assert _below_plateau([untrained], last["plateau_loss"]) < 0


def test_count3_plateau_is_the_entropy_given_position_and_last_token():
    """Exact by enumeration on a tiny space: every training-part seed, each equally likely."""
    import itertools
    import math
    from collections import Counter
    cfg = dict(block=6, seed_len=2, vocab=5, test_one_in=4)
    seeds = torch.tensor(list(itertools.product(range(5), repeat=2)))
    seeds = seeds[~D.is_test_seed(seeds, 5, 4)]
    rows = [s.tolist() for s in seeds]
    for row in rows:
        for n in range(2, 7):
            row.append(D.count3_brute(row[:n]))
    ent = []
    for t in range(2, 6):  # scored input positions; the target is token t + 1
        joint, last = Counter((r[t], r[t + 1]) for r in rows), Counter(r[t] for r in rows)
        ent.append(-sum(c / len(rows) * math.log(c / last[a]) for (a, _), c in joint.items()))
    exact = sum(ent) / len(ent)
    assert T.count3_plateau(cfg, "cpu", 0) == pytest.approx(exact, abs=0.01)
    assert exact < math.log(5) - 0.1  # the position and the last token do tell something


def test_count3_test_set_follows_the_seed():
    cfg = dict(block=8, seed_len=3, vocab=8, eval_sequences=64, test_one_in=8)
    a, b = T.count3_eval_set(cfg, "cpu", 0), T.count3_eval_set(cfg, "cpu", 0)
    assert torch.equal(a, b) and not torch.equal(a, T.count3_eval_set(cfg, "cpu", 1000))  # seed_set 1 moves it
    assert D.is_test_seed(a[:, :3], 8, 8).all()


GATES = {"count3_below_plateau": 0.25, "addition_accuracy": 0.1, "length_in_distribution": 0.5}
PLATEAU = 2.0


def _claim_tables(enc_loss, enc_seq, dec_seq, add_gap, enc_longer, *, lower_gaps=(0.3, 0.3, 0.3), add_acc=0.6,
                  in_dist=0.9, longer_gaps=None, seeds=3):
    """Three seeds by default. Count3: the equal-size decoder's loss is the encoder's + lower_gaps[seed]; the
    plateau is PLATEAU nats. Addition: encoder add_acc + gap, decoder add_acc per seed. Length: encoder accuracy
    on longer operands enc_longer (+ longer_gaps[seed] over the decoder's 0.2 when given)."""
    gaps3 = list(lower_gaps)[:seeds]
    hist = pd.DataFrame([
        dict(model=m, arch=a, seed=sd, step=s, token_acc=0.5, seq_acc=q if s == 200 else 0.0,
             test_loss=loss if s == 200 else 3.0, params=p, plateau_loss=PLATEAU)
        for sd, g in enumerate(gaps3)
        for m, a, loss, q, p in [("encoder", "encoder", enc_loss, enc_seq, 100),
                                 ("decoder", "decoder", enc_loss + g, dec_seq, 100),
                                 ("decoder_large", "decoder", 1.0, dec_seq, 800)]
        for s in (100, 200)])
    gaps = add_gap if isinstance(add_gap, (list, tuple)) else [add_gap] * seeds  # one per seed
    add = pd.DataFrame([dict(objective=o, format="reversed", arch=a, n_train=n, seed=sd, step=s,
                             seq_acc=acc if s == 2 else 0.0, overlap=0)
                        for o in ("lm", "answer") for sd, g in enumerate(gaps)
                        for n, gap in ((1250, g if o == "lm" else -0.3), (20000, -0.5))
                        for a, acc in (("encoder", add_acc + gap), ("decoder", add_acc)) for s in (1, 2)])
    lg = list(longer_gaps) if longer_gaps is not None else [enc_longer - 0.2] * seeds
    length = pd.DataFrame([dict(arch=a, seed=sd, split=sp, long_digits=5, n=10,
                                seq_acc=in_dist if sp == "in_distribution" else acc)
                           for sd, g in enumerate(lg) for a, acc in (("encoder", 0.2 + g), ("decoder", 0.2))
                           for sp in ("longer", "in_distribution")])
    return hist, add, length


def _verdicts(*tables, **kw):
    from repro.studies.entp.claims import all_claims
    return {c.id: c.holds for c in all_claims(*_claim_tables(*tables, **kw), gates=GATES)}


def test_claims_read_the_final_evaluation_and_compare_the_encoder_with_its_own_size():
    from repro.core.claims import expect_only
    from repro.studies.entp.claims import all_claims
    # beats the equal-size decoder by 0.3 on every seed; the larger one (1.0) is reported, not compared; only
    # sizes up to 5000 count for the gap
    assert _verdicts(1.2, 0.95, 0.0, 0.1, 0.5) == {"count3_separation": True, "count3_encoder_lower_loss": True,
                                                    "addition_sample_efficiency": True, "length_generalisation": True}
    # the paper wrong everywhere: the encoder's loss above the decoder's, behind on addition and longer operands
    assert _verdicts(1.2, 0.95, 0.1, -0.01, 0.1, lower_gaps=(-0.3, -0.2, -0.25)) == {
        "count3_separation": False, "count3_encoder_lower_loss": False, "addition_sample_efficiency": False,
        "length_generalisation": False}
    # the encoder ahead on average, but within 2 standard errors across seeds: not shown
    noisy = {c.id: c for c in all_claims(*_claim_tables(1.2, 0.95, 0.0, [0.3, -0.1, 0.0], 0.5), gates=GATES)}
    assert noisy["addition_sample_efficiency"].holds is False
    assert noisy["addition_sample_efficiency"].measured["protocol"]["reversed"]["gap"] == pytest.approx(0.2 / 3)
    # the answer-only ablation is reported, never judged; one seed is not measured
    ab = noisy["addition_sample_efficiency"].measured["answer_only_ablation"]["reversed"]
    assert ab["gap"] == pytest.approx(-0.3)
    one = {c.id: c for c in all_claims(*_claim_tables(1.2, 0.95, 0.0, [0.3], 0.5, seeds=1), gates=GATES)}
    assert one["addition_sample_efficiency"].holds is None
    found = all_claims(*_claim_tables(1.2, 0.95, 0.0, 0.1, 0.5), gates=GATES)
    assert found[1].measured["same_size_decoders"] == {"encoder": ["decoder"]}
    small = yaml.safe_load((Path(__file__).parents[1] / "config/studies/entp.yaml").read_text())["small"]["expected_claims"]
    expected = {c.id: c.as_record("small")["expected"] for c in expect_only(found, small, "small")}
    # issue 19: under the repository's every-character loss small scale expects no entp claim
    assert expected == {"count3_separation": False, "count3_encoder_lower_loss": False,
                        "addition_sample_efficiency": False, "length_generalisation": False}
    with pytest.raises(ValueError, match="unknown"):
        expect_only(found, ["count3_speed"], "small")


def test_comparisons_within_two_standard_errors_over_seeds_do_not_hold():
    # Count3: the encoder ahead by 0.03 on average, but -0.2 .. +0.2 across seeds
    assert _verdicts(1.2, 0.95, 0.0, 0.1, 0.5, lower_gaps=(0.2, -0.2, 0.09))["count3_encoder_lower_loss"] is False
    # length generalisation: +0.1 on average, per seed +0.5, -0.3, +0.1
    assert _verdicts(1.2, 0.95, 0.0, 0.1, 0.5, longer_gaps=(0.5, -0.3, 0.1))["length_generalisation"] is False
    # a tie fails: the same accuracy on every seed
    assert _verdicts(1.2, 0.95, 0.0, 0.0, 0.2)["addition_sample_efficiency"] is False
    assert _verdicts(1.2, 0.95, 0.0, 0.0, 0.2)["length_generalisation"] is False


def test_length_generalisation_needs_its_margin():
    """Issue 32: the encoder's edge on longer operands must clear the config's margin with its whole interval."""
    from repro.studies.entp.claims import all_claims
    margins = {"length_generalisation": 0.1}

    def holds(gaps):
        tables = _claim_tables(1.2, 0.95, 0.0, 0.1, 0.5, longer_gaps=gaps)
        return {c.id: c for c in all_claims(*tables, gates=GATES, margins=margins)}["length_generalisation"]
    assert holds((0.6, 0.5, 0.55)).holds is True  # the paper's size of effect (0.73 against 0.17)
    assert holds((-0.1, -0.2, -0.15)).holds is False  # the paper wrong: the decoder ahead
    assert holds((0.05, 0.05, 0.05)).holds is False  # clear of zero but under the margin
    assert holds((0.4, -0.1, 0.2)).holds is False  # above the margin on average, within noise
    c = holds((0.6, 0.5, 0.55))
    assert c.measured["margin"] == 0.1 and "answer-only" in c.measured["objective"] and "every character" in c.rule


def test_count3_lower_loss_needs_three_seeds_and_two_standard_errors():
    """Issue 32: the 0.006 one-seed gap is not measured; the paper wrong fails; within noise fails; a clear gap
    on three seeds holds."""
    v = lambda gaps: _verdicts(1.2, 0.95, 0.0, 0.1, 0.5, lower_gaps=gaps, seeds=len(gaps))  # noqa: E731
    assert v((0.006,))["count3_encoder_lower_loss"] is None
    assert v((-0.1, -0.05, -0.2))["count3_encoder_lower_loss"] is False
    assert v((0.02, -0.01, 0.006))["count3_encoder_lower_loss"] is False
    assert v((0.3, 0.2, 0.25))["count3_encoder_lower_loss"] is True


def test_one_seed_has_no_spread_and_never_holds():
    """The issue's case: a 0.006 loss gap on one seed (Count3 uses the top-level seeds, [0] by default)."""
    from repro.core.claims import records
    from repro.studies.entp.claims import all_claims
    recs = {r["id"]: r for r in records(all_claims(*_claim_tables(1.2, 0.95, 0.0, [0.3], 0.5, lower_gaps=(0.006,),
                                                                  longer_gaps=(0.5,), seeds=1), gates=GATES),
                                        "paper")}
    for cid in ("count3_encoder_lower_loss", "addition_sample_efficiency", "length_generalisation"):
        assert recs[cid]["holds"] is None and "fewer than 3 seeds" in recs[cid]["notes"], cid
    assert recs["count3_encoder_lower_loss"]["measured"]["loss_gap"]["encoder"]["effect"]["n"] == 1


def test_untrained_models_are_not_measured():
    from repro.core.claims import records
    from repro.studies.entp.claims import all_claims

    def recs(*tables, **kw):
        return {r["id"]: r for r in records(all_claims(*_claim_tables(*tables, **kw), gates=GATES), "small")}
    # Count3 models on the plateau (the decoder_large row too), addition at the memorising 0.001, length models
    # that cannot add even the training lengths: every claim is "not measured", never holds or fails
    hist, add, length = _claim_tables(PLATEAU, 0.0, 0.0, 0.0, 0.0, add_acc=0.001, in_dist=0.02)
    hist.loc[hist.model == "decoder_large", "test_loss"] = PLATEAU * 0.9  # a tenth below: still on it
    flat = {r["id"]: r for r in records(all_claims(hist, add, length, gates=GATES), "small")}
    for cid, r in flat.items():
        assert r["holds"] is None and r["not_measured"].startswith("not measured: "), cid
        assert not any(g["passed"] for g in r["gates"])
    assert "plateau" in flat["count3_separation"]["not_measured"]
    assert flat["addition_sample_efficiency"]["gates"][0]["value"] == pytest.approx(0.001)
    # one learner is enough for Count3: the encoder off the plateau, its decoder on it -> measured, and holds
    mixed = recs(1.2, 0.0, 0.0, 0.1, 0.5, lower_gaps=(0.8, 0.8, 0.8))
    lower = mixed["count3_encoder_lower_loss"]
    assert lower["holds"] is True and lower["gates"][0]["passed"]
    # length generalisation needs both architectures to add in distribution
    hist, add, length = _claim_tables(1.2, 0.95, 0.0, 0.1, 0.5)
    length.loc[(length.arch == "decoder") & (length.split == "in_distribution"), "seq_acc"] = 0.1
    lg = {r["id"]: r for r in records(all_claims(hist, add, length, gates=GATES), "small")}["length_generalisation"]
    assert lg["holds"] is None and "in-distribution" in lg["not_measured"]
    # tables without the plateau (written before it was measured): the Count3 gates cannot pass
    old = {r["id"]: r for r in records(all_claims(hist.drop(columns="plateau_loss"), add, length, gates=GATES),
                                       "small")}
    assert old["count3_separation"]["not_measured"] and old["count3_encoder_lower_loss"]["not_measured"]


def test_every_scale_sets_the_gates():
    cfg = yaml.safe_load((Path(__file__).parents[1] / "config/studies/entp.yaml").read_text())
    assert all(set(cfg[s]["gates"]) == set(GATES) for s in ("smoke", "small", "paper"))
    assert all(cfg[s]["margins"]["length_generalisation"] > 0 for s in ("smoke", "small", "paper"))
    # the paired Count3 comparison is judged at small and paper scale: three seeds or more
    assert all(len(cfg[s]["count3"]["seeds"]) >= 3 for s in ("small", "paper"))


def test_count3_test_seeds_are_disjoint_from_training_draws():
    g = torch.Generator().manual_seed(0)
    train = D.count3(4096, 8, 3, 6, g, split="train", test_one_in=4)
    test = D.count3(512, 8, 3, 6, g, split="test", test_one_in=4)
    assert not D.is_test_seed(train[:, :3], 6, 4).any() and D.is_test_seed(test[:, :3], 6, 4).all()
    tr = set(D.seed_ids(train[:, :3], 6).tolist())
    te = set(D.seed_ids(test[:, :3], 6).tolist())
    assert not tr & te and len(tr | te) <= 6**3
    assert 0.15 < len(te) / (len(tr) + len(te)) < 0.35  # about 1 in 4 of the 216 seeds is a test seed
    # a sequence is a function of its seed: the split of seeds splits the sequences
    assert all(D.count3_brute(test[0, :n].tolist()) == test[0, n] for n in range(3, 9))
    cfg = dict(seed_len=3, vocab=6, test_one_in=4, steps=10, batch=8)
    assert T.count3_overlap(cfg, test)["test_seeds_in_train_part"] == 0.0
