"""The one benchmark command runs and writes its JSON lines (speed itself is never asserted)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_command_writes_one_json_line_per_measurement(tmp_path):
    out = tmp_path / "bench.jsonl"
    subprocess.run([sys.executable, "benchmarks/run.py", "--quick", "--device", "cpu", "--only", "ftc", "dual_modes",
                    "--out", str(out)], cwd=ROOT, check=True, capture_output=True)
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["study"] for r in recs} == {"ftc", "dual_modes"}
    for r in recs:
        assert {"study", "what", "device", "ms_per_step", "projected_minutes"} <= set(r) and r["ms_per_step"] > 0
