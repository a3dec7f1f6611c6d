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
    """A running one-node Slurm cluster whose job steps reach the controller: started (and afterwards
    stopped, leaving nothing behind) unless one already answers."""
    script = os.path.join(ROOT, "tests", "services", "slurm.sh")
    started = subprocess.run([script, "status"]).returncode != 0
    if started:
        subprocess.run([script, "start"], check=True)
    try:
        # Fail fast, in one line, when jobs would die at their first srun (e.g. a config that clients
        # find only through SLURM_CONF, which the jobstep plugin strips).
        check = subprocess.run([script, "check"], capture_output=True, text=True)
        if check.returncode != 0:
            pytest.fail(check.stderr.strip().splitlines()[-1], pytrace=False)
        yield
    finally:
        if started:
            subprocess.run([script, "stop"], check=False)
