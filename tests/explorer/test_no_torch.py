"""The explorer never imports torch: run every page in a fresh interpreter and look at sys.modules.

(tests/test_layering.py checks the import statements; this catches an indirect import at run time.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
from streamlit.testing.v1 import AppTest
import explorer.cli, explorer.address, explorer.console, explorer.data, explorer.cache
import explorer.views.graphs, explorer.views.tables
errors = []
for page in ("Image", "Class", "Compare", "Queries", "Exports"):
    at = AppTest.from_file(sys.argv[1], default_timeout=60)
    at.query_params["page"] = page
    at.run()
    errors += [str(e.value) for e in at.exception] + [str(e.value) for e in at.error]
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision", "timm"))
print(json.dumps({"heavy": heavy, "errors": errors}))
"""


def test_explorer_pages_load_without_torch(ladybug_seeded):
    env = {**os.environ, "AMX_STORE": ladybug_seeded, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT / "explorer" / "app.py")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["errors"] == []
    assert result["heavy"] == []
