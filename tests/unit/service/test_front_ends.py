"""How the front ends word the service's refusals: the API answers 404, 403, 400 with the fields, 409; the
local CLI, a thin shell over the service, prints one line and reads without building the runtime."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gennaker.api.errors import install_error_handlers
from gennaker.cli.backend import BackendError
from gennaker.cli.local import LocalBackend
from gennaker.service.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError
from gennaker.settings import Settings
from tests.support import make_runtime

REFUSALS: list[tuple[ServiceError, int]] = [
    (NotFound("execution x not found"), 404),
    (Forbidden("dev lacks WRITE permission on application 'shop'"), 403),
    (Invalid.field("judgmentStatus", "must be 'continue' or 'stop'"), 400),
    (Conflict("execution x is already SUCCEEDED"), 409),
]


@pytest.mark.parametrize(("refusal", "status"), REFUSALS)
def test_the_api_answers_each_refusal_with_its_status_and_fields(refusal: ServiceError, status: int) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/refuse")
    def refuse() -> None:
        raise refusal

    answer = TestClient(app).get("/refuse")
    assert answer.status_code == status
    assert answer.json()["message"] == str(refusal) and answer.json()["details"] == refusal.details()


def test_the_local_cli_reads_without_the_runtime_and_words_refusals_in_one_line(tmp_path: Path) -> None:
    make_runtime(tmp_path).close()  # a database with its schema
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'gennaker.db'}")
    local = LocalBackend(settings, "alice")
    try:
        assert local.execution("nope") is None and local.application("shop") is None
        assert local.pipelines("shop") == [] and local.executions("shop", [], 10) == []
        assert "rt" not in local.__dict__  # reads need only the database
        with pytest.raises(BackendError, match="application name '9lives' must be"):
            local.save_application("9lives", None)
        local.save_application("shop", "team@example.com")
        saved = local.application("shop")
        assert saved is not None and saved["lastModifiedBy"] == "alice"
        with pytest.raises(BackendError, match="execution nope not found"):
            local.pause("nope")
        assert not local.delete_pipeline("shop", "nope") and local.delete_application("shop")
        assert not local.delete_application("shop")
    finally:
        local.close()
