# Config validation and helpers shared by every study's rules. No rules here.
import sys

from repro.core import config as repro_config
from repro.core.deps import library_files

try:
    CFG = repro_config.load(config)
except repro_config.ConfigError as err:
    # One line naming the key, then stop before any job (nothing is written under results/).
    sys.exit(f"repro config error: {err}")

# One software environment for every rule (used with --software-deployment-method conda).
ENV = "../envs/repro.yaml"
SCALE = CFG["scale"]
SEEDS = CFG["seeds"]
STUDIES = CFG["studies"]


wildcard_constraints:
    seed=r"\d+",
    d=r"\d+",
    depth="2|3",


def study_cfg(study, *keys):
    """The settings of `study` at the selected scale, optionally narrowed to a sub-block.

    Rules pass exactly the sub-block they use as params, so changing one value reruns only its dependents.
    """
    node = CFG["study"][study]
    for key in keys:
        node = node[key]
    return node


def pick(block, *keys):
    """Only `keys` of a settings block: a rule's params should hold exactly what its job reads."""
    return {k: block[k] for k in keys}


def omit(block, *keys):
    """A settings block without `keys` (e.g. evaluation settings must not retrain a model)."""
    return {k: v for k, v in block.items() if k not in keys}


def lib(script):
    """Library files `script` imports (transitively): rule inputs, since Snakemake cannot see imports."""
    return list(library_files(script))


def gpu_request():
    """Training rules ask a cluster for a GPU only when the run will use one (paper scale with device auto)."""
    device = CFG["device"]
    return int(device == "cuda" or (device == "auto" and SCALE == "paper"))


# Each study's rules file registers the files its `<study>_all` target builds.
STUDY_TARGETS = {}


def final_outputs():
    return ["results/REPORT.md", "results/REPORT.html"] + [
        f for s in STUDIES for f in STUDY_TARGETS[s]
    ]
