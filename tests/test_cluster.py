"""profiles/slurm against a real one-node Slurm cluster (tests/services/slurm.sh): every non-local job is
submitted to Slurm, Slurm ran it, and the results equal those of a local run with the same seed."""

import json
import math
import subprocess

import pytest
from wf import copy_repo, sh

pytestmark = pytest.mark.workflow

# One study's smoke target goes through Slurm (the executor path is the same for every study; running them
# all would cost minutes of the suite for no new coverage).
CLUSTER_RULES = {"dual_modes_modes", "dual_modes_closer_task", "dual_modes_early_ascent", "dual_modes_train",
                 "dual_modes_evaluate"}
# the rest are localrules (figures, claims)
# The profile keeps the plugin's polite status-check timing for real clusters (the first check 40 s after a
# submission); the one-node test cluster answers at once, so the tests poll it every few seconds.
FAST_POLL = "--slurm-init-seconds-before-status-checks 1 --seconds-between-status-checks 2"


def test_smoke_through_slurm_matches_local_run(slurm, smoke, tmp_path):
    repo = copy_repo(tmp_path)
    sh(f"snakemake --workflow-profile profiles/slurm {FAST_POLL} dual_modes_all", repo)

    # Snakemake's side: one job log per submitted job, named by the Slurm job id.
    logs = list((repo / ".snakemake/slurm_logs").rglob("*.log"))
    assert {p.relative_to(repo / ".snakemake/slurm_logs").parts[0].removeprefix("rule_") for p in logs} \
        == CLUSTER_RULES
    # Slurm's side: it knows each of those jobs, ran it to completion, in this working directory.
    for log in logs:
        info = subprocess.run(["scontrol", "show", "job", log.stem], capture_output=True, text=True,
                              check=True).stdout
        assert "JobState=COMPLETED" in info, info
        assert f"WorkDir={repo}" in info, info
        assert "gpu" not in info.lower(), info  # smoke scale on device auto: no GPU requested

    local = json.loads((smoke / "results/dual_modes/metrics.json").read_text())
    remote = json.loads((repo / "results/dual_modes/metrics.json").read_text())
    assert local.keys() == remote.keys()
    for key, value in local.items():
        assert math.isclose(value, remote[key], rel_tol=1e-6, abs_tol=1e-9), (key, value, remote[key])


@pytest.mark.parametrize("config", ["device=cuda", "scale=paper"])
def test_training_asks_slurm_for_a_gpu_when_it_will_use_one(slurm, tmp_path, config):
    """With device cuda, or auto at paper scale, the training job requests --gpus=1 (plus its own runtime and
    memory). This test cluster has no GPU, so Slurm itself refuses the request: proof that it reached it."""
    repo = copy_repo(tmp_path)
    proc = sh("snakemake results/dual_modes/checkpoints/transformer_d1_16_s0.safetensors "
              f"--workflow-profile profiles/slurm {FAST_POLL} --config {config}", repo, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    submits = [line for line in out.splitlines() if "sbatch --parsable" in line]
    assert submits, out[-3000:]
    sbatch = submits[0]
    assert "--gpus=1" in sbatch and "-t 90" in sbatch and "--mem 8000" in sbatch, sbatch
    assert "Invalid generic resource" in out
