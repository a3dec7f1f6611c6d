"""Sharing results through an S3-compatible remote (a moto server on 127.0.0.1), and `dvc repro`.

Full story: run and push in one clone; pull in a fresh clone; `snakemake -n` has nothing to do and
`dvc status` is clean. Then an object disappears from the remote: the pull says so, everything else is
restored, and Snakemake recomputes exactly the missing artifact.
"""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
import pytest
import torch
from safetensors.torch import load_file
from wf import planned_rules, sh

pytestmark = pytest.mark.workflow

BUCKET = "repro-test"
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
CKPT = "results/dual_modes/checkpoints/transformer_d1_16_s0.safetensors"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, env={**os.environ, **CREDS})
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(endpoint, timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"moto server exited ({proc.returncode}); port {port} taken?")
                time.sleep(0.2)
        else:
            raise RuntimeError(f"moto server did not answer on {endpoint}")
        client = boto3.client("s3", endpoint_url=endpoint, **_boto_creds())
        client.create_bucket(Bucket=BUCKET)
        yield endpoint, client
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _boto_creds():
    return {"aws_access_key_id": CREDS["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": CREDS["AWS_SECRET_ACCESS_KEY"],
            "region_name": CREDS["AWS_DEFAULT_REGION"]}


def _dvc(cmd, cwd, check=True):
    return sh(cmd, cwd, check=check, env_extra=CREDS)


@pytest.fixture(scope="module")
def pushed(s3, smoke, tmp_path_factory):
    """A copy of the smoke run whose results are committed to DVC and pushed to the S3 remote."""
    endpoint, _ = s3
    repo = tmp_path_factory.mktemp("origin") / "repo"
    shutil.copytree(smoke, repo, symlinks=True)  # keeps mtimes and Snakemake's metadata
    _dvc(f"dvc remote add -f -d s3 s3://{BUCKET}/store && dvc remote modify s3 endpointurl {endpoint}", repo)
    _dvc("dvc commit -f -q && dvc push -q", repo)
    sh("git add -A && git -c user.email=t@t -c user.name=t commit -qm 'results on s3'", repo)
    return repo


def test_fresh_clone_pulls_everything_and_has_nothing_to_do(pushed, tmp_path):
    clone = tmp_path / "clone"
    sh(f"git clone -q {pushed} {clone}", tmp_path)
    _dvc("dvc pull -q", clone)
    assert (clone / CKPT).exists() and (clone / "results/REPORT.md").exists()
    sh("snakemake --touch --cores 1", clone)
    assert planned_rules(clone) == {}
    status = _dvc("dvc status", clone).stdout
    assert "up to date" in status.lower(), status
    assert (clone / "results/dual_modes/claims.json").read_text() == \
        (pushed / "results/dual_modes/claims.json").read_text()


def test_missing_remote_object_is_reported_and_recomputed(pushed, s3, tmp_path):
    _, client = s3
    md5 = hashlib.md5((pushed / CKPT).read_bytes()).hexdigest()
    key = f"store/files/md5/{md5[:2]}/{md5[2:]}"
    client.delete_object(Bucket=BUCKET, Key=key)
    try:
        clone = tmp_path / "clone"
        sh(f"git clone -q {pushed} {clone}", tmp_path)
        pull = _dvc("dvc pull", clone, check=False)
        assert pull.returncode != 0 and md5 in pull.stderr, pull.stderr  # DVC names the missing object

        restore = _dvc("repro-restore", clone, check=False)
        assert restore.returncode == 2 and f"not on the remote: {CKPT}" in restore.stderr, restore.stderr
        assert not (clone / CKPT).exists()
        assert (clone / "results/dual_modes/metrics/fig4_modes.parquet").exists()
        assert planned_rules(clone, CKPT) == {"dual_modes_train": 1}  # exactly the job that makes it
        sh(f"snakemake --cores 2 {CKPT}", clone)
        for name, t in load_file(pushed / CKPT).items():  # same seed, same weights
            assert torch.allclose(t, load_file(clone / CKPT)[name], atol=1e-6), name
    finally:
        client.put_object(Bucket=BUCKET, Key=key, Body=(pushed / CKPT).read_bytes())


def test_dvc_repro_runs_the_study_through_snakemake(pushed, tmp_path):
    clone = tmp_path / "clone"
    sh(f"git clone -q {pushed} {clone}", tmp_path)
    assert "up to date" not in _dvc("dvc status dual_modes", clone).stdout.lower()  # nothing pulled: missing
    # One study's stage, as a user reruns one study (every stage would repeat the whole smoke run: minutes).
    _dvc("dvc repro dual_modes", clone)
    assert (clone / CKPT).exists() and not (clone / "results/ftc").exists()  # only that stage ran
    assert "up to date" in _dvc("dvc status dual_modes", clone).stdout.lower()
    recs = json.loads((clone / "results/dual_modes/claims.json").read_text())
    assert len(recs) == 8 and all(r["scale"] == "smoke" for r in recs)
