# Config validation and helpers shared by every study's rules. No rules here.
import glob
import json
import os
import shlex
import sys

from repro.core import config as repro_config
from repro.core import seeds as repro_seeds
from repro.core.deps import library_files

try:
    CFG = repro_config.load(config)
except repro_config.ConfigError as err:
    # One line naming the key, then stop before any job (nothing is written under results/).
    sys.exit(f"repro config error: {err}")

# Reseeding: `seed_set: N` moves every seed (global and per study) to a disjoint set, and the outputs to
# their own tree, so a verdict can be checked against another draw without touching the default results.
SEED_SET = int(CFG.get("seed_set", 0))
CFG = repro_seeds.shift_tree(CFG, SEED_SET)
RESULTS = repro_seeds.results_root(SEED_SET)
LOGS = repro_seeds.results_root(SEED_SET, "logs")
SCRATCH = repro_seeds.results_root(SEED_SET, "scratch")


# Paths under this seed set's trees (functions: the linter reads string concatenation as an absolute path).
def results_path(path):
    return f"{RESULTS}/{path}"


def logs_path(path):
    return f"{LOGS}/{path}"


def scratch_path(path):
    return f"{SCRATCH}/{path}"


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


def config_args(**override):
    """This run's top-level config as `--config` words for a nested run, with `override` applied."""
    top = {
        k: v
        for k, v in config.items()
        if k in ("scale", "studies", "seeds", "device", "data_root", "seed_set")
    }
    top.update(override)
    return " ".join(shlex.quote(f"{k}={json.dumps(v)}") for k, v in top.items())


def gpu_request():
    """Training rules ask a cluster for a GPU only when the run will use one (paper scale with device auto)."""
    device = CFG["device"]
    return int(device == "cuda" or (device == "auto" and SCALE == "paper"))


# Each study's rules file registers the files its `<study>_all` target builds.
STUDY_TARGETS = {}


def final_outputs():
    return [results_path("REPORT.md"), results_path("REPORT.html")] + [
        f for s in STUDIES for f in STUDY_TARGETS[s]
    ]


# Robustness: the default scale again under the alternate seed set, in its own tree (results/seed_set_1/), by a
# nested run of this workflow (one job per study, all cores). Opt-in: nothing in `all` asks for it. Once a
# study's alternate claims exist, REPORT.md shows both verdicts and whether each claim is stable.
ROBUST_SET = 1
ROBUST_ROOT = repro_seeds.results_root(ROBUST_SET)


def robust_path(path):
    return f"{ROBUST_ROOT}/{path}"


def robust_claims(study):
    return robust_path(f"{study}/claims.json")


def robustness_asked(study):
    """Whether this run's targets ask for the study's alternate seed set (at DAG time: targets are unknown
    while the Snakefile is parsed)."""
    asked = {str(t) for t in workflow.dag_settings.targets}
    return "robustness" in asked or f"{study}_robustness" in asked


def robust_sources(wildcards):
    """What a study's nested run reads (its configs, rules, scripts and their library files): inputs of the
    outer job, so that asking for robustness after an edit reruns it; the nested run, incremental itself, then
    redoes only what the edit touches. Ancient unless asked for, so a default run that shows an alternate set
    already built never starts a nested run (and the input set, hence the report, stays the same).
    """
    study = wildcards.study
    scripts = sorted(glob.glob(f"workflow/scripts/{study}/*.py"))
    files = {
        "config/config.yaml",
        f"config/studies/{study}.yaml",
        "workflow/rules/common.smk",
        f"workflow/rules/{study}.smk",
        *scripts,
    }
    for script in scripts:
        files.update(lib(script))
    files = sorted(f for f in files if os.path.exists(f))
    return files if robustness_asked(study) else [ancient(f) for f in files]


def robust_inputs(wildcards):
    """Alternate-set claims the report shows: those asked for by this run's targets, and those already built."""
    return [
        robust_claims(s)
        for s in STUDIES
        if SEED_SET == 0 and (robustness_asked(s) or os.path.exists(robust_claims(s)))
    ]
