from collections.abc import Iterator
from pathlib import Path

import pytest

from gennaker.runtime import Runtime
from tests.support import make_runtime


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on a fresh SQLite database with one worker thread running."""
    rt = make_runtime(tmp_path)
    rt.start_workers(1)
    yield rt
    rt.close()
