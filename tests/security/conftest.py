"""A server as `gennaker up` builds it (permissions enforced, real authentication) with ordinary users.

Users: `admin` (administrator), `alice` (role `dev`), `bob` (role `ops`), and two accounts meant to run
pipelines: `ci-bot` (role `dev`) and `ops-bot` (role `ops`). Applications: `mine` (dev may do everything),
`theirs` (only ops). Callers authenticate with API tokens, as scripts do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gennaker.api.app import create_app
from gennaker.api.security import local_security
from gennaker.auth.identity import DefaultPolicy
from gennaker.auth.service import AuthService
from gennaker.runtime import Runtime
from tests.integration.auth.conftest import app_with  # noqa: F401  (the API and UI built from an auth config)
from tests.support import make_runtime

USERS = {
    "admin": (["admin"], True),
    "alice": (["dev"], False),
    "bob": (["ops"], False),
    "ci-bot": (["dev"], False),
    "ops-bot": (["ops"], False),
}
APPLICATIONS = {
    "mine": {"permissions": {"READ": ["dev"], "WRITE": ["dev"], "EXECUTE": ["dev"]}},
    "theirs": {"permissions": {"READ": ["ops"], "WRITE": ["ops"], "EXECUTE": ["ops"]}},
}


@dataclass
class Server:
    rt: Runtime
    client: TestClient
    tokens: dict[str, str]

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    rt = make_runtime(tmp_path, enforce_permissions=True)
    auth = AuthService(rt.db)
    tokens = {}
    for name, (roles, admin) in USERS.items():
        auth.add_user(name, None, roles, is_admin=admin)
        tokens[name] = auth.create_token(name, "tests").token
    with rt.db.transaction() as conn:
        for name, attributes in APPLICATIONS.items():
            rt.applications.save(conn, name, attributes, "admin")
    rt.start_workers(1)
    with TestClient(create_app(rt, local_security(auth, DefaultPolicy()), auth=auth)) as client:
        yield Server(rt, client, tokens)
    rt.close()
