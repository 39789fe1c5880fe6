from pathlib import Path

import pytest
from indexbuilder import Index


@pytest.fixture
def index(tmp_path: Path) -> Index:
    """An empty hermetic package index under ``tmp_path / "index"`` (see tests/indexbuilder.py)."""
    return Index(tmp_path / "index")
