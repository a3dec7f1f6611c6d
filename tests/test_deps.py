"""Every library module a workflow script really loads is declared as that rule's input."""

import glob
import os
import subprocess
import sys

import pytest
from conftest import ROOT

from repro.core.deps import library_files

SCRIPTS = sorted(glob.glob(f"{ROOT}/workflow/scripts/**/*.py", recursive=True))

# Import what the script imports (not the script itself: it needs a `snakemake` object) and list
# which repro files Python actually executed.
PROBE = """
import ast, sys
tree = ast.parse(open(sys.argv[1]).read())
for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("repro"):
        __import__(node.module, fromlist=[a.name for a in node.names])
    elif isinstance(node, ast.Import):
        for a in node.names:
            if a.name.startswith("repro"):
                __import__(a.name)
for name, mod in sorted(sys.modules.items()):
    if name.split(".")[0] == "repro" and getattr(mod, "__file__", None):
        print(mod.__file__)
"""


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.split("workflow/scripts/")[1])
def test_declared_library_inputs_cover_loaded_modules(script):
    env = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "src")}  # this checkout's code, whatever is installed
    loaded = subprocess.run([sys.executable, "-c", PROBE, script], capture_output=True, text=True, check=True,
                            cwd=ROOT, env=env).stdout.split()
    loaded = {p.split(f"{ROOT}/")[-1] for p in loaded}
    missing = loaded - _declared(script)
    assert not missing, f"{script} loads {missing} but its rule would not rerun when they change"


def _declared(script):
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return set(library_files(os.path.relpath(script, ROOT), "src"))
    finally:
        os.chdir(cwd)


def test_study_code_is_not_a_dependency_of_unrelated_rules():
    report = _declared(f"{ROOT}/workflow/scripts/report.py")
    assert report and not any("studies/dual_modes" in f for f in report)
    claims = _declared(f"{ROOT}/workflow/scripts/dual_modes/claims.py")
    assert "src/repro/studies/dual_modes/claims.py" in claims
    assert "src/repro/studies/dual_modes/figures.py" not in claims
