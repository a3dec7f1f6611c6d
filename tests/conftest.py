import os
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tests/wf.py helpers

from wf import copy_repo, sh  # noqa: E402


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """One local smoke run of the whole workflow, shared by the workflow, cluster and sharing tests."""
    repo = copy_repo(tmp_path_factory.mktemp("smoke"))
    sh("snakemake --cores 2", repo)
    return repo


@pytest.fixture(scope="session")
def slurm():
    """A running one-node Slurm cluster: started (and afterwards stopped) unless one already answers."""
    script = os.path.join(ROOT, "tests", "services", "slurm.sh")
    # The test cluster keeps its config outside /etc/slurm; every Slurm client (sbatch, squeue, scontrol,
    # and Snakemake's jobs) finds it through SLURM_CONF.
    os.environ["SLURM_CONF"] = os.path.join(os.environ.get("REPRO_SLURM_DIR", "/tmp/repro-slurm"), "slurm.conf")
    if subprocess.run([script, "status"]).returncode == 0:
        yield
        return
    subprocess.run([script, "start"], check=True)
    yield
    subprocess.run([script, "stop"], check=False)
