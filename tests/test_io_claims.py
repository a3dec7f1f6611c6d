"""Provenance-stamped io and the claims machinery."""

import json

import pandas as pd
import pytest
import torch

from repro.core import claims as C
from repro.core import io
from repro.core.provenance import Provenance, config_hash
from repro.studies.dual_modes import claims as DC


def test_parquet_and_checkpoint_carry_provenance(tmp_path):
    prov = Provenance(params={"a": 1}, seed=3, device="cpu", scale="smoke")
    io.write_parquet(pd.DataFrame({"k": [0, 1]}), tmp_path / "t.parquet", prov)
    meta = io.read_provenance(tmp_path / "t.parquet")
    assert meta["seed"] == 3 and meta["config_hash"] == config_hash({"a": 1}) and "torch" in meta["packages"]
    sd = {"w": torch.arange(6.0).view(2, 3)}
    io.save_checkpoint(sd, tmp_path / "m.safetensors", {"n_layer": 2}, prov)
    loaded, cfg = io.load_checkpoint(tmp_path / "m.safetensors")
    assert cfg == {"n_layer": 2} and torch.equal(loaded["w"], sd["w"])
    assert io.read_provenance(tmp_path / "m.safetensors")["scale"] == "smoke"


def test_config_hash_ignores_key_order():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "x.json"
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_crossover_k():
    ks = [0, 1, 2, 4, 8]
    assert DC.crossover_k(ks, [1, 1, 1, 0.2, 0.1], [2, 0.5, 0.5, 0.5, 0.5]) == 4
    assert DC.crossover_k(ks, [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]) == 0
    assert DC.crossover_k(ks, [1] * 5, [0] * 5) == 9  # never crosses on the grid


def _ascent_table(risks, se=0.01):
    ks = [0, 1, 4, 16, 64, 256]
    r = pd.Series(risks)
    return pd.DataFrame({"d": 1, "k": ks, "risk": r, "se": se, "diff": r - r[0], "se_diff": se})


def test_early_ascent_claim_needs_a_significant_bump_and_a_fall():
    assert DC.early_ascent_claim([_ascent_table([1.0, 1.1, 1.2, 1.0, 0.6, 0.2])]).holds
    assert not DC.early_ascent_claim([_ascent_table([1.0, 0.9, 0.8, 0.7, 0.6, 0.2])]).holds  # no ascent
    assert not DC.early_ascent_claim([_ascent_table([1.0, 1.01, 1.0, 1.0, 0.6, 0.2])]).holds  # within noise
    assert not DC.early_ascent_claim([_ascent_table([1.0, 1.2, 1.2, 1.0, 0.9, 0.8])]).holds  # no fall


def test_records_blank_verdicts_at_smoke_and_report_flags_failures():
    c = [C.Claim("a", "s", "r", {"x": 1.0}, True), C.Claim("b", "s", "r", {"x": 2.0}, False)]
    smoke = C.records(c, "smoke")
    assert [r["holds"] for r in smoke] == [None, None]
    small = C.records(c, "small")
    assert [r["holds"] for r in small] == [True, False]
    md = C.render_report({"study": small})
    assert "1 of 2 claims hold" in md and "NOT reproduced" in md and "study/b" in md
    assert C.metrics_summary(small) == {"a.x": 1.0, "a.holds": 1, "b.x": 2.0, "b.holds": 0}
    json.dumps(small)
    with pytest.raises(ValueError):
        C.records(c + [C.Claim("a", "s", "r", {}, True)], "small")
