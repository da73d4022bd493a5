"""Canary configs and judgments for the API, the pages and the CLI: checks, permissions and transactions.

A config is shared with the applications it lists (Kayenta's `applications`). Reading one needs READ on one
of them; saving or deleting one needs WRITE on every application it lists, and on every application the
stored version lists (so an update cannot take a config away from a team that may not write it). A judgment
is read with READ on its execution's application. Checks are made where permissions are enforced (server
processes), with the caller's identity (the API) or a user name (looked up like an execution's user).

A config is checked before it is stored: its JSON shape, a name, valid application names, the canary core's
rules (`validate_canary_config`) and the size budget, each refusal naming the field. A config name is unique
among the configs sharing an application, so `canaryConfigName` and `#canaryConfigNameToId` find one config.
Metrics accounts named by a config are not checked here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy.engine import Connection

from gennaker.canary.config import validate_canary_config
from gennaker.model.execution import now_ms
from gennaker.model.names import application_name_problem, pipeline_name_problem
from gennaker.service.access import Access, Who
from gennaker.service.errors import Conflict, Forbidden, Invalid, NotFound
from gennaker.store.canary import CanaryConfigTooLarge, CanaryStore, check_budget
from gennaker.store.database import Database

CONFIG_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_APPLICATIONS = 100
MAX_PROBLEMS = 50  # a refusal lists this many problems at most
MAX_SHORT = 256  # characters of a metric name, a judge name, a configVersion
Short = Annotated[str, StringConstraints(max_length=MAX_SHORT)]


def invalid_config(problems: list[tuple[str, str]]) -> Invalid:
    """A config that cannot be saved: its problems (at most `MAX_PROBLEMS`), the first in the message."""
    field, problem = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return Invalid(f"invalid canary config: {field}: {problem}{more}", problems[:MAX_PROBLEMS])


class _Save(Enum):
    CREATE = "create"  # a stored id is a conflict
    UPDATE = "update"  # the id must be stored
    EITHER = "either"


# -- the JSON shape (kayenta.md §1): types the canary core relies on, checked before it reads them -------------
class _Shape(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class _Query(_Shape):
    type: str | None = None
    serviceType: str | None = None
    metricName: str | None = None
    labelBindings: list[str] | None = None
    groupByFields: list[str] | None = None
    resourceType: str | None = None
    customInlineTemplate: str | None = None
    customFilterTemplate: str | None = None
    customFilter: str | None = None


class _Metric(_Shape):
    name: Short | None = None
    query: _Query | None = None
    groups: list[str] | None = None
    scopeName: str | None = None
    analysisConfigurations: dict[str, Any] | None = None


class _Thresholds(_Shape):
    passing: float | None = Field(None, alias="pass")
    marginal: float | None = None


class _Classifier(_Shape):
    groupWeights: dict[str, float] | None = None
    scoreThresholds: _Thresholds | None = None


class _Judge(_Shape):
    name: Short | None = None
    judgeConfigurations: dict[str, Any] | None = None


class _CanaryConfig(_Shape):
    id: str | None = None
    name: str | None = None
    description: str | None = None
    applications: list[str] | None = None
    judge: _Judge | None = None
    metrics: list[_Metric] | None = None
    templates: dict[str, str] | None = None
    classifier: _Classifier | None = None


def _path(location: tuple[Any, ...]) -> str:
    """`("metrics", 0, "query")` → `metrics[0].query`."""
    out = ""
    for part in location:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


# Pydantic's wording for the usual type errors, in JSON's words (its own names the Python class).
_TYPE_PROBLEMS = {
    "string_type": "must be a string",
    "float_type": "must be a number",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
}


def _shape_problems(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    try:
        _CanaryConfig.model_validate(config)
    except ValidationError as error:
        return [(_path(tuple(e["loc"])), _TYPE_PROBLEMS.get(e["type"], str(e["msg"]))) for e in error.errors()]
    return []


def _own_problems(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The id, name and applications (the canary core checks the rest)."""
    problems: list[tuple[str, str]] = []
    config_id = config.get("id")
    if config_id not in (None, "") and not CONFIG_ID.fullmatch(str(config_id)):
        problems.append(("id", "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"))
    name = config.get("name")
    if isinstance(name, str) and name and (problem := pipeline_name_problem(name)):
        problems.append(("name", problem))
    version = config.get("configVersion")
    if version is not None and (isinstance(version, bool) or not isinstance(version, str | int | float)):
        problems.append(("configVersion", "must be a string or a number"))
    elif version is not None and len(str(version)) > MAX_SHORT:
        problems.append(("configVersion", f"must have at most {MAX_SHORT} characters"))
    applications = config.get("applications") or []
    if not applications:
        problems.append(("applications", "must list at least one application (Kayenta accepts 'ad-hoc')"))
    elif len(applications) > MAX_APPLICATIONS:
        problems.append(("applications", f"must list at most {MAX_APPLICATIONS} applications"))
    else:
        for index, application in enumerate(applications):
            if problem := application_name_problem(application):
                problems.append((f"applications[{index}]", f"{application!r} {problem}"))
    return problems


def _field_of(problem: str, metrics: list[Any]) -> str:
    """The field a problem from `validate_canary_config` is about (its messages name the metric)."""
    if problem == "the canary config needs a name":
        return "name"
    if problem.startswith("templates"):
        return "templates"
    if "scoreThresholds" in problem:
        return "classifier.scoreThresholds"
    if problem.startswith("metric #"):
        number = problem.removeprefix("metric #").split(" ", 1)[0].rstrip(":")
        return f"metrics[{int(number) - 1}]" if number.isdigit() else "metrics"
    for index, metric in enumerate(metrics):
        name = metric.get("name") if isinstance(metric, Mapping) else None
        if name and problem.startswith(f"metric {str(name)!r}"):
            return f"metrics[{index}]"
    return "metrics" if "metric" in problem else "body"


def config_problems(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every reason `config` cannot be saved, as (field, problem); empty when it can."""
    try:
        check_budget(config)
    except CanaryConfigTooLarge as error:
        return [(error.field, error.problem)]
    problems = _shape_problems(config)
    if problems:  # the canary core's checks read these types
        return problems
    problems = _own_problems(config)
    metrics = config.get("metrics") or []
    problems += [(_field_of(p, metrics), p) for p in validate_canary_config(config)]
    return problems


class CanaryConfigs:
    def __init__(self, db: Database, store: CanaryStore, access: Access):
        """`access` judges who may read a config (READ on one application it is shared with) and change it
        (WRITE on all of them)."""
        self.db = db
        self.store = store
        self.access = access

    # -- configs -------------------------------------------------------------------------------------------
    def configs(self, who: Who, application: str | None = None) -> list[dict[str, Any]]:
        """Summaries of the configs `who` may read (those shared with `application`, if given)."""
        with self.db.read() as conn:
            found = self.store.list_configs(conn, application)
            shared = {name for summary in found for name in summary["applications"]}
            readable = self.access.permitted(conn, self.access.actor(who), shared, "READ")
            return [s for s in found if readable.intersection(s["applications"])]

    def config(self, config_id: str, who: Who) -> dict[str, Any]:
        with self.db.read() as conn:
            return self._readable(conn, config_id, who)

    def create(self, config: Mapping[str, Any], who: Who) -> dict[str, Any]:
        """Store a new config (409 if its id is stored); returns it as stored."""
        return self._save(config, who, _Save.CREATE)

    def update(self, config_id: str, config: Mapping[str, Any], who: Who) -> dict[str, Any]:
        """Store the next version of a stored config; the config's `id`, if any, must be `config_id`."""
        if config.get("id") not in (None, config_id):
            raise invalid_config([("id", f"must be the id in the path, '{config_id}'")])
        return self._save({**config, "id": config_id}, who, _Save.UPDATE)

    def save(self, config: Mapping[str, Any], who: Who) -> dict[str, Any]:
        """Create the config, or store the next version when its id is stored (the CLI's `save`)."""
        return self._save(config, who, _Save.EITHER)

    def delete(self, config_id: str, who: Who) -> None:
        with self.db.transaction() as conn:
            existing = self._readable(conn, config_id, who)
            self._require_write(conn, who, existing.get("applications") or [])
            self.store.delete_config(conn, config_id)

    def id_by_name(self, name: str, application: str, who: Who) -> str | None:
        """The id of the config named `name` shared with `application`, if `who` may read that application
        (`#canaryConfigNameToId`)."""
        with self.db.read() as conn:
            if not self._may_read(conn, who, [application]):
                return None
            return self.store.config_id_by_name(conn, name, application)

    def _save(self, config: Mapping[str, Any], who: Who, mode: _Save) -> dict[str, Any]:
        config_id = config.get("id")
        actor = self.access.actor(who)  # resolved once for every check below
        with self.db.transaction() as conn:
            existing = self.store.get_config(conn, config_id) if isinstance(config_id, str) and config_id else None
            if existing is None and mode is _Save.UPDATE:
                raise NotFound(f"canary config {config_id} not found")
            if existing is not None:
                if mode is _Save.CREATE:
                    raise Conflict(f"a canary config with the id {config_id} already exists")
                self._visible(conn, existing, str(config_id), actor)
                self._require_write(conn, actor, existing.get("applications") or [])
            problems = config_problems(config)
            if problems:
                raise invalid_config(problems)
            applications = list(dict.fromkeys(str(a).lower() for a in config["applications"]))
            self._require_write(conn, actor, applications)
            self.store.lock_name(conn, str(config["name"]))
            for application in applications:
                other = self.store.config_id_by_name(conn, str(config["name"]), application)
                if other is not None and other != config_id:
                    raise Conflict(
                        f"a canary config named '{config['name']}' is already shared with application "
                        f"'{application}' (id {other})"
                    )
            return self.store.save_config(
                conn, {**config, "applications": applications}, actor.name, now_ms()
            )

    # -- judgments -----------------------------------------------------------------------------------------
    def judgment(self, judgment_id: str, who: Who) -> dict[str, Any]:
        """A stored judgment, as the `runCanary` task saved it."""
        with self.db.read() as conn:
            found = self.store.get_judgment(conn, judgment_id)
            if found is None or not self._may_read(conn, who, [str(found.get("application"))]):
                raise NotFound(f"canary judgment {judgment_id} not found")
            return found

    def judgments(self, execution_id: str, who: Who, stage_id: str | None = None) -> list[dict[str, Any]]:
        """An execution's judgments (of one `runCanary` stage, if given) that `who` may read."""
        with self.db.read() as conn:
            found = self.store.judgments(conn, execution_id, stage_id)
            applications = {str(j.get("application")) for j in found}
            readable = self.access.permitted(conn, self.access.actor(who), applications, "READ")
            return [j for j in found if str(j.get("application")) in readable]

    # -- permissions ---------------------------------------------------------------------------------------
    def _may_read(self, conn: Connection, who: Who, applications: list[str]) -> bool:
        return bool(self.access.permitted(conn, self.access.actor(who), applications, "READ"))

    def _readable(self, conn: Connection, config_id: str, who: Who) -> dict[str, Any]:
        """The stored config, if `who` may read it (not found otherwise, so its existence is not revealed)."""
        return self._visible(conn, self.store.get_config(conn, config_id), config_id, who)

    def _visible(self, conn: Connection, found: dict[str, Any] | None, config_id: str, who: Who) -> dict[str, Any]:
        """`found` (the stored config `config_id`), if `who` may read it; not found otherwise."""
        if found is None or not self._may_read(conn, who, [str(a) for a in found.get("applications") or []]):
            raise NotFound(f"canary config {config_id} not found")
        return found

    def _require_write(self, conn: Connection, who: Who, applications: list[str]) -> None:
        actor = self.access.actor(who)
        writable = self.access.permitted(conn, actor, applications, "WRITE")
        for application in applications:
            if application not in writable:
                raise Forbidden(
                    f"{actor.name} lacks WRITE permission on application '{application}', "
                    "which the canary config is shared with"
                )
