from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gennaker.api.app import create_app
from gennaker.runtime import Runtime
from tests.api_support import header_security
from tests.support import make_runtime


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on a fresh SQLite database with one worker thread running."""
    rt = make_runtime(tmp_path)
    rt.start_workers(1)
    yield rt
    rt.close()


@pytest.fixture
def api(runtime: Runtime) -> Iterator[TestClient]:
    """The API and UI on `runtime`, with test security (see tests/api_support.py)."""
    with TestClient(create_app(runtime, header_security())) as client:
        yield client
