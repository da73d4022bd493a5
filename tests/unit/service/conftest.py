"""A runtime whose services enforce permissions, with users judged by their stored roles: `admin`, `dev`
(READ, WRITE and EXECUTE on `shop`), `viewer` (READ on `shop`) and `outsider` (nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gennaker.auth.service import AuthService
from gennaker.runtime import Runtime
from gennaker.service.wiring import Services
from tests.support import make_runtime

SHOP = {"READ": ["viewer"], "WRITE": ["dev"], "EXECUTE": ["dev"]}
RELEASE = {
    "application": "shop",
    "name": "release",
    "parameterConfig": [
        {"name": "env", "hasOptions": True, "options": [{"value": "staging"}, {"value": "prod"}], "default": "staging"}
    ],
    "stages": [{"refId": "1", "type": "manualJudgment", "name": "Approve"}],
}


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path, enforce_permissions=True)
    auth = AuthService(runtime.db)
    auth.add_user("admin", None, [], is_admin=True)
    for name in ("dev", "viewer", "outsider"):
        auth.add_user(name, None, [name])
    yield runtime
    runtime.close()


@pytest.fixture
def service(rt: Runtime) -> Services:
    """The services, with `shop` and its `release` pipeline stored."""
    rt.service.applications.create("shop", {"permissions": SHOP}, "admin")
    rt.service.pipelines.save(dict(RELEASE), "admin")
    return rt.service
