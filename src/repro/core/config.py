"""Config loading and validation: a bad config stops the workflow before any job, with one line that
names the offending key and what is allowed.

`config/config.yaml` picks the scale, studies, seeds and device; `config/studies/<study>.yaml` holds each
study's settings for every scale. Both are checked against JSON schemas in `workflow/schemas/`.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import jsonschema
import yaml

SCALES = ("smoke", "small", "paper")


class ConfigError(ValueError):
    """One-line, user-facing description of what is wrong in which file at which key."""


class _StrictLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys without a word; DVC's parser (ruamel) refuses the file at
    `dvc commit`, so a duplicate is an error here, where it can name the key."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(f"{self.name}: key '{key}' appears twice in one mapping "
                                  f"(line {key_node.start_mark.line + 1})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path):
    path = Path(path)
    loader = _StrictLoader(path.read_text())
    loader.name = str(path)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _describe(err: jsonschema.ValidationError, source: str) -> str:
    where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
    schema = err.schema if isinstance(err.schema, dict) else {}
    if err.validator == "additionalProperties":
        allowed = sorted(map(str, schema.get("properties", {})))
        extra = sorted(set(map(str, err.instance)) - set(allowed))
        key = ".".join([*map(str, err.absolute_path), extra[0]]) if extra else where
        return f"{source}: unknown key '{key}'; allowed here: {', '.join(allowed)}"
    if err.validator == "enum":
        return f"{source}: key '{where}' is {err.instance!r}; allowed: {', '.join(map(str, err.validator_value))}"
    if err.validator == "required":
        return f"{source}: {err.message} (at '{where}')"
    hint = schema.get("description")
    return f"{source}: key '{where}': {err.message}" + (f" ({hint})" if hint else "")


def validate(data: dict, schema_path: str | Path, source: str) -> dict:
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        raise ConfigError(_describe(jsonschema.exceptions.best_match(errors), source))
    return data


def load_study(study: str, scale: str, config_dir: str | Path = "config",
               schema_dir: str | Path = "workflow/schemas") -> dict:
    """The validated settings of one study at one scale."""
    path = Path(config_dir) / "studies" / f"{study}.yaml"
    if not path.exists():
        raise ConfigError(f"config: key 'studies' names '{study}' but {path} does not exist")
    data = read_yaml(path) or {}
    validate(data, Path(schema_dir) / f"{study}.schema.yaml", str(path))
    return canonical(data[scale])


def canonical(node):
    """Dicts with sorted keys, recursively. Snakemake hashes params by their repr, so without this merely
    reordering keys in a YAML file would rerun every job that receives them."""
    if isinstance(node, dict):
        return {k: canonical(node[k]) for k in sorted(node)}
    if isinstance(node, list):
        return [canonical(v) for v in node]
    return node


def load(config: dict, config_dir: str | Path = "config", schema_dir: str | Path = "workflow/schemas") -> dict:
    """Validate the top-level config and attach every known study's settings under `study`.

    All studies are loaded, not only the selected ones: every study's rules are defined (so `snakemake entp_all`
    works whatever `studies` says), and `studies` only decides what the default target builds.
    """
    config = _from_command_line(config)
    validate(config, Path(schema_dir) / "config.schema.yaml", "config")
    out = dict(config)
    out["study"] = {s: load_study(s, config["scale"], config_dir, schema_dir) for s in known_studies(schema_dir)}
    return out


def known_studies(schema_dir: str | Path = "workflow/schemas") -> list[str]:
    """The study ids the top-level schema allows (one rules file and one config file each)."""
    schema = yaml.safe_load((Path(schema_dir) / "config.schema.yaml").read_text())
    return list(schema["properties"]["studies"]["items"]["enum"])


def _from_command_line(config: dict) -> dict:
    """`--config seeds=[0,1]` arrives as [0, '1'] and `seeds=3` as 3: accept both as lists of ints."""
    config = dict(config)
    seeds = config.get("seeds")
    if isinstance(seeds, int):
        seeds = [seeds]
    if isinstance(seeds, list):
        config["seeds"] = [int(s) if isinstance(s, str) and s.strip().isdigit() else s for s in seeds]
    return config


def number(x) -> float:
    """Numbers in configs may be written as fractions ('1/81') for readability."""
    return float(Fraction(x)) if isinstance(x, str) else float(x)
