"""Canary configs keep every saved version and are found by name and application; judgments are replaced,
not duplicated, when saved again, and come back in run order; configs over budget are refused. On SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gennaker.store.canary import MAX_CONFIG_BYTES, MAX_METRICS, CanaryConfigTooLarge, CanaryStore
from gennaker.store.database import Database

METRIC = {
    "name": "error rate",
    "scopeName": "default",
    "query": {"type": "prometheus", "customInlineTemplate": "PromQL:sum(rate(errors[1m]))"},
}
CONFIG: dict[str, Any] = {
    "name": "checkout-golden-signals",
    "description": "Canary config for checkout",
    "configVersion": "1",
    "applications": ["checkout", "Shop"],
    "judge": {"name": "NetflixACAJudge-v1.0", "judgeConfigurations": {}},
    "metrics": [METRIC],
    "classifier": {"groupWeights": {}, "scoreThresholds": {"pass": 95, "marginal": 75}},
}


def database(tmp_path: Path, url: str | None) -> Database:
    db = Database(url or f"sqlite:///{tmp_path / 'canary.db'}")
    db.migrate()
    return db


def judgment(judgment_id: str, run: int | None, created: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": judgment_id,
        "application": "checkout",
        "executionId": "exec-1",
        "stageId": judgment_id,
        "parentStageId": "canary",
        "canaryConfigId": "c1",
        "runNumber": run,
        "createdAt": created,
        "status": "SUCCEEDED",
        "score": 97.5,
        "result": {"score": {"score": 97.5, "classification": "Pass"}},
        "metricSetPairs": [{"name": "error rate", "values": {"control": [1.0], "experiment": [1.5]}}],
        **extra,
    }


def check_configs(db: Database) -> None:
    store = CanaryStore()
    with db.transaction() as conn:
        first = store.save_config(conn, {**CONFIG, "createdTimestamp": 5, "version": 9}, "alice", 1_000)
    config_id = first["id"]
    assert len(config_id) == 36  # a uuid4
    assert (first["version"], first["createdTimestamp"], first["updatedTimestamp"]) == (1, 1_000, 1_000)
    assert first["updatedTimestampIso"] == "1970-01-01T00:00:01.000Z"
    with db.transaction() as conn:
        second = store.save_config(conn, {**first, "description": "second"}, "bob", 2_000)
    assert (second["id"], second["version"], second["createdTimestamp"]) == (config_id, 2, 1_000)
    with db.read() as conn:
        assert store.get_config(conn, config_id) == second
        assert store.get_config_version(conn, config_id, 1) == first
        assert store.get_config_version(conn, config_id, 2) == second
        assert store.get_config_version(conn, config_id, 3) is None
        assert store.config_id_by_name(conn, "checkout-golden-signals", "shop") == config_id
        assert store.config_id_by_name(conn, "checkout-golden-signals", "SHOP") == config_id
        assert store.config_id_by_name(conn, "checkout-golden-signals", "other") is None
        assert store.config_id_by_name(conn, "nope", "checkout") is None
        [summary] = store.list_configs(conn, "checkout")
    assert summary == {
        "id": config_id,
        "name": "checkout-golden-signals",
        "applications": ["checkout", "shop"],
        "judgeName": "NetflixACAJudge-v1.0",
        "configVersion": "1",
        "version": 2,
        "updatedTimestamp": 2_000,
        "updatedTimestampIso": "1970-01-01T00:00:02.000Z",
        "updatedBy": "bob",
    }
    with db.transaction() as conn:
        given = store.save_config(conn, {**CONFIG, "id": "mine", "name": "b", "applications": ["check"]}, None, 3)
        # "check" is a prefix of "checkout": only whole application names match
        assert [s["id"] for s in store.list_configs(conn, "check")] == ["mine"]
        assert [s["name"] for s in store.list_configs(conn)] == ["b", "checkout-golden-signals"]
        assert store.list_configs(conn, "checko") == []
    assert (given["id"], given["version"]) == ("mine", 1)
    with db.transaction() as conn:
        assert store.delete_config(conn, config_id)
        assert not store.delete_config(conn, config_id)
        assert store.get_config(conn, config_id) is None
        assert store.get_config_version(conn, config_id, 1) is None


def check_judgments(db: Database) -> None:
    store = CanaryStore()
    with db.transaction() as conn:
        store.save_judgment(conn, judgment("run-2", 2, 200))
        store.save_judgment(conn, judgment("run-1", 1, 300))
        store.save_judgment(conn, judgment("other", 1, 100, executionId="exec-2"))
    failed = judgment("run-2", 2, 250, status="TERMINAL", score=None, error="metrics account 'prom' is down")
    with db.transaction() as conn:
        store.save_judgment(conn, failed)  # the task ran again: the judgment is replaced
    with db.read() as conn:
        assert store.get_judgment(conn, "run-2") == failed
        assert store.get_judgment(conn, "missing") is None
        assert [j["id"] for j in store.judgments(conn, "exec-1")] == ["run-1", "run-2"]
        assert [j["id"] for j in store.judgments(conn, "exec-1", "run-2")] == ["run-2"]
        assert store.judgments(conn, "exec-3") == []


def test_configs_on_sqlite(tmp_path: Path) -> None:
    db = database(tmp_path, None)
    check_configs(db)
    db.dispose()


def test_judgments_on_sqlite(tmp_path: Path) -> None:
    db = database(tmp_path, None)
    check_judgments(db)
    db.dispose()


@pytest.mark.postgres
def test_configs_and_judgments_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    db = database(tmp_path, postgres_url)
    check_configs(db)
    check_judgments(db)
    db.dispose()


def test_configs_over_budget_are_refused(tmp_path: Path) -> None:
    db = database(tmp_path, None)
    store = CanaryStore()
    many = {**CONFIG, "metrics": [{**METRIC, "name": f"m{i}"} for i in range(MAX_METRICS + 1)]}
    large = {**CONFIG, "description": "x" * MAX_CONFIG_BYTES}
    with db.transaction() as conn:
        with pytest.raises(CanaryConfigTooLarge, match="metrics: has 501 metrics, more than the 500"):
            store.save_config(conn, many, None, 1)
        with pytest.raises(CanaryConfigTooLarge, match=r"bytes of JSON, more than the 1,048,576 allowed"):
            store.save_config(conn, large, None, 1)
        store.save_config(conn, {**many, "metrics": many["metrics"][:MAX_METRICS]}, None, 1)
        assert len(store.list_configs(conn)) == 1
    db.dispose()
