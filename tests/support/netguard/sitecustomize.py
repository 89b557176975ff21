"""Loaded automatically by child Python processes that have this directory on PYTHONPATH."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.support.network import install  # noqa: E402

install()
