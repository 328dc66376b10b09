"""Shared test settings: where the real test data lives, and `src` on the path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Real, small public datasets shared by every checkout: ../shared/data beside the repo.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

try:  # the installed (editable) package, else the source tree
    import genlab.data  # noqa: F401
except ImportError:
    sys.path.insert(0, str(REPO / "src"))


@pytest.fixture
def shared_data() -> Path:
    """The shared data folder; tests using it are skipped if it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA
