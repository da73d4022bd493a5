"""One canary config name per application holds under concurrent saves on PostgreSQL, where two transactions
could otherwise both find the name free (the service serialises saves of one name)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from gennaker.service.errors import Conflict
from tests.canary_support import CONFIG
from tests.support import make_runtime

SAVES = 6


@pytest.mark.postgres
def test_concurrent_creates_of_one_name_store_one_config(tmp_path: Path, postgres_url: str) -> None:
    rt = make_runtime(tmp_path, database_url=postgres_url)
    created: list[str] = []
    refused: list[str] = []
    start = threading.Barrier(SAVES)

    def create(index: int) -> None:
        start.wait()
        try:
            created.append(rt.canary_configs.create({**CONFIG, "description": f"save {index}"}, "admin")["id"])
        except Conflict as error:
            refused.append(str(error))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(SAVES)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        stored: list[dict[str, Any]] = rt.canary_configs.configs("admin", "demo")
        assert len(created) == 1 and len(refused) == SAVES - 1
        assert all("a canary config named 'checkout' is already shared with application 'demo'" in r for r in refused)
        assert [c["id"] for c in stored] == created
    finally:
        rt.close()
