"""Config validation: good configs load; a bad one fails with one line naming the key and what is allowed."""

import copy
import shutil

import pytest
import yaml
from conftest import ROOT

from repro.core import config as C


@pytest.fixture
def cfg():
    return yaml.safe_load(open(f"{ROOT}/config/config.yaml"))


def _load(c):
    return C.load(c, f"{ROOT}/config", f"{ROOT}/workflow/schemas")


@pytest.mark.parametrize("scale", C.SCALES)
def test_shipped_config_is_valid_at_every_scale(cfg, scale):
    out = _load(dict(cfg, scale=scale))
    assert set(out["study"]["dual_modes"]) >= {"modes", "closer_task", "early_ascent", "transformer"}


@pytest.mark.parametrize("change, expect", [
    ({"scale": "huge"}, ["'scale'", "smoke, small, paper"]),
    ({"colour": "red"}, ["unknown key 'colour'", "device, scale, seed_set, seeds, studies"]),
    ({"seeds": "0"}, ["'seeds'", "array"]),
    ({"seeds": [0, "one"]}, ["'seeds.1'", "integer"]),
    ({"device": "tpu"}, ["'device'", "auto, cpu, cuda"]),
    ({"studies": ["nope"]}, ["'studies.0'", "dual_modes, ftc, entp, multibin_batching, task_vectors, task_superposition, ssm_peft, fed_agem, r2f, kv_retrieval"]),
])
def test_bad_top_level_config_names_the_key(cfg, change, expect):
    with pytest.raises(C.ConfigError) as err:
        _load({**cfg, **change})
    msg = str(err.value)
    assert "\n" not in msg
    for part in expect:
        assert part in msg, msg


def test_bad_study_config_names_the_nested_key(tmp_path, cfg):
    cfg = {**cfg, "studies": ["dual_modes"]}
    study = yaml.safe_load(open(f"{ROOT}/config/studies/dual_modes.yaml"))
    (tmp_path / "studies").mkdir()
    for mutate, expect in [
        (lambda s: s["small"]["transformer"].update(stepz=3), "unknown key 'small.transformer.stepz'"),
        (lambda s: s["paper"]["modes"].update(n_prompts="many"), "'paper.modes.n_prompts'"),
        (lambda s: s["smoke"]["modes"].update(deltas=["1/0.5", 1]), "'smoke.modes.deltas.0'"),
        (lambda s: s.pop("paper"), "'paper' is a required property"),
    ]:
        bad = copy.deepcopy(study)
        mutate(bad)
        (tmp_path / "studies" / "dual_modes.yaml").write_text(yaml.safe_dump(bad))
        with pytest.raises(C.ConfigError) as err:
            C.load(cfg, tmp_path, f"{ROOT}/workflow/schemas")
        assert expect in str(err.value) and "dual_modes.yaml" in str(err.value), str(err.value)


def test_duplicate_key_in_a_study_config_stops_with_its_name_and_line(tmp_path, cfg):
    """PyYAML would keep the second value silently; DVC refuses the file at `dvc commit` (issue 32's entp slip)."""
    cfg = {**cfg, "studies": ["dual_modes"]}
    text = open(f"{ROOT}/config/studies/dual_modes.yaml").read()
    assert "\nsmall:" in text
    text = text.replace("\nsmall:", "\nsmall:\n  threads: 1\n  threads: 2", 1)
    assert yaml.safe_load(text)["small"]["threads"] == 2  # the plain loader accepts it: the check is ours
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "dual_modes.yaml").write_text(text)
    with pytest.raises(C.ConfigError) as err:
        C.load(cfg, tmp_path, f"{ROOT}/workflow/schemas")
    msg = str(err.value)
    assert "'threads' appears twice" in msg and "dual_modes.yaml" in msg and "line " in msg and "\n" not in msg, msg


def test_fractions_in_configs():
    assert C.number("1/81") == pytest.approx(1 / 81)
    assert C.number(0.5) == 0.5


def test_study_settings_do_not_depend_on_key_order(tmp_path, cfg):
    cfg = {**cfg, "studies": ["dual_modes"]}
    study = yaml.safe_load(open(f"{ROOT}/config/studies/dual_modes.yaml"))
    shutil.copytree(f"{ROOT}/config/studies", tmp_path / "studies")  # every study's settings are loaded
    (tmp_path / "studies" / "dual_modes.yaml").write_text(yaml.safe_dump(study, sort_keys=True))
    a = C.load(cfg, tmp_path, f"{ROOT}/workflow/schemas")["study"]["dual_modes"]
    b = _load(cfg)["study"]["dual_modes"]
    assert repr(a) == repr(b)  # Snakemake compares params by repr


def test_seeds_from_the_command_line_are_coerced(cfg):
    assert _load({**cfg, "seeds": [0, "1"]})["seeds"] == [0, 1]
    assert _load({**cfg, "seeds": 3})["seeds"] == [3]
