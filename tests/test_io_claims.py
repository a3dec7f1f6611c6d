"""Provenance-stamped io and the claims machinery."""

import json

import pandas as pd
import pytest
import torch

from repro.core import claims as C
from repro.core import io
from repro.core.provenance import Provenance, config_hash


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


def test_records_blank_verdicts_at_smoke_and_report_flags_failures():
    c = [C.Claim("a", "s", "r", {"x": 1.0}, True), C.Claim("b", "s", "r", {"x": 2.0}, False)]
    smoke = C.records(c, "smoke")
    assert [r["holds"] for r in smoke] == [None, None]
    small = C.records(c, "small")
    assert [r["holds"] for r in small] == [True, False]
    md = C.render_report({"study": small})
    assert "1 of 2 of the papers' claims hold" in md and "NOT reproduced" in md and "study/b" in md
    assert C.metrics_summary(small) == {"a.x": 1.0, "a.holds": 1, "b.x": 2.0, "b.holds": 0}
    json.dumps(small)
    with pytest.raises(ValueError):
        C.records(c + [C.Claim("a", "s", "r", {}, True)], "small")


def test_a_claim_not_measured_at_a_scale_stays_blank_and_out_of_the_counts():
    c = [C.Claim("a", "s", "r", {"x": 1.0}, True), C.Claim("b", "s", "r", {"x": None}, None)]
    small = C.records(c, "small")
    assert [r["holds"] for r in small] == [True, None]  # None is not turned into a failure
    md = C.render_report({"study": small})
    assert "1 of 1 measured (1 not measured at this scale) of the papers' claims hold" in md
    assert "not measured at this scale |" in md and "Not reproduced" not in md
    assert C.metrics_summary(small) == {"a.x": 1.0, "a.holds": 1}


def test_report_keeps_sanity_checks_and_extensions_apart_from_the_papers_claims():
    c = [C.Claim("p", "s", "r", {}, True), C.Claim("e", "s", "r", {}, False, kind="extension"),
         C.Claim("s", "s", "r", {}, True, kind="sanity")]
    recs = C.records(c, "small")
    md = C.render_report({"study": recs})
    # the headline counts only the paper's claims; a failed extension is not a paper claim not reproduced
    assert "1 of 1 of the papers' claims hold; 0 of 1 of this project's extensions hold; 1 of 1 sanity" in md
    assert "Not reproduced:" not in md
    paper, ext, sanity = (md.index(C.KINDS[k]) for k in ("paper", "extension", "sanity"))
    assert paper < md.index("**p**") < ext < md.index("**e**") < sanity < md.index("**s**")
    html = C.render_report_html({"study": recs})
    assert html.startswith("<!DOCTYPE html>") and all(f"<b>{i}</b>" in html for i in "pes")
    with pytest.raises(ValueError, match="kind"):
        C.Claim("x", "s", "r", {}, True, kind="guess")
