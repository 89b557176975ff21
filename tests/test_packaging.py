"""A wheel of the project carries everything it runs on: the app and its pages (so `tutor serve`
works from an install, not only from a checkout), the report templates, the scorer's calibration."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# The app starts loading the encoder in a background thread (tutor_ui.resources' warm-up); exiting while
# that thread is inside torch's import can abort the interpreter, so the check lets it finish first.
_CHECK = """
import json, sys, threading
from streamlit.testing.v1 import AppTest
import tutor, evals.report.render as render
from tutor.cli import app_path
app = app_path()
at = AppTest.from_file(str(app), default_timeout=120)
at.run()
for thread in threading.enumerate():
    if thread.name == "tutor-warm-up":
        thread.join(timeout=120)
print(json.dumps({"tutor": tutor.__file__, "app": str(app),
                  "templates": render._HTML.get_template("report.html.j2").filename,
                  "exception": [str(e.message) for e in at.exception], "title": [t.value for t in at.title]}))
"""


def test_the_app_is_served_from_an_installed_wheel(tmp_path: Path) -> None:
    wheels, target, source = tmp_path / "wheels", tmp_path / "site", tmp_path / "source"
    # Built from a copy: building in place would leave build/ in the checkout.
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("tutor", "evals", "ui"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels)], check=True, capture_output=True, cwd=tmp_path)
    wheel = next(wheels.glob("tutor-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, cwd=tmp_path)
    for packaged in ("ui/app.py", "ui/app_pages/chat.py", "ui/tutor_ui/chat.py",
                     "evals/report/templates/report.html.j2",
                     "evals/metrics/faithfulness/calibration.json"):
        assert (target / packaged).is_file(), packaged
    # Run from elsewhere with only the installed copy on the path: nothing may come from the checkout.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(target), TUTOR_DATA_DIR=str(tmp_path / "data"), TUTOR_CORPUS_DIR=str(tmp_path / "c"))
    done = subprocess.run([sys.executable, "-c", _CHECK], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["tutor"].startswith(str(target)) and result["app"] == str(target / "ui" / "app.py")
    assert result["templates"].startswith(str(target))
    assert result["exception"] == [] and result["title"] == ["Course tutor"]
