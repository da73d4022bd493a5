"""The Helm trigger: one poller per chart repository account and chart (echo-igor.md §2.7).

Each poll reads the repository's `index.yaml` (size-capped, parsed with a safe YAML loader; skipped when
its bytes did not change) and keeps the chart's versions with their digests. The first poll records them
and fires nothing; a version not seen before is an event, and so is a known version whose digest changed
(the chart was published again under the same version). Event key: `helm:<account>/<chart>:<version>:<digest>`.

A saved trigger `{type: helm, account, chart, version}` matches when `account` and `chart` are equal and
the event's version satisfies `version`, an npm SemVer range (`>=1.2.0 <2`, `^1.2`, `~1.2.3`; blank means
any version). Echo does not compare `chart` — a trigger would fire for every chart of the account — so
Gennaker does. The execution's trigger is the saved trigger with the actual `version` (replacing the range),
the `digest`, and a `helm/chart` artifact that the account can fetch.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

import yaml

from gennaker.artifacts.accounts import HelmAccount
from gennaker.artifacts.fetchers.guard import FetchProblem
from gennaker.artifacts.fetchers.http_client import HttpGetter, redact_url, require_credential_host
from gennaker.triggers.helm.versions import RangeError, VersionRange
from gennaker.triggers.incidents import IncidentLog
from gennaker.triggers.scheduler import PolledEvent

log = logging.getLogger("gennaker.triggers.helm")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C build of the safe loader: no tags, no objects
MAX_INDEX_BYTES = 32 * 1024 * 1024
DEFAULT_INTERVAL_S = 60.0  # Igor's default poll interval


class HelmPoller:
    """The versions of one chart in one Helm repository account."""

    trigger_type = "helm"

    def __init__(self, account: HelmAccount, chart: str, http: HttpGetter, interval_s: float = DEFAULT_INTERVAL_S):
        self.account = account
        self.chart = chart
        self.http = http
        self.key = f"helm:{account.name}/{chart}"
        self.interval_s = float(interval_s)
        self.incidents = IncidentLog(log, f"helm poller {account.name}/{chart}")

    @property
    def index_url(self) -> str:
        return urljoin(self.account.repository.rstrip("/") + "/", "index.yaml")

    def poll(self, state: dict[str, Any] | None) -> tuple[list[PolledEvent], dict[str, Any]]:
        known = _known_versions(state)
        kept = dict(state) if state is not None else {}
        try:
            require_credential_host(self.account, self.index_url)
            body = self.http.get(self.index_url, auth=self.account.basic_auth())
        except FetchProblem as problem:
            self.incidents.failed(_incident_kind(str(problem)), self._message(str(problem)))
            return [], kept
        fingerprint = "sha256:" + hashlib.sha256(body).hexdigest()
        if known is not None and state is not None and state.get("index") == fingerprint:
            self.incidents.succeeded()
            return [], kept
        try:
            current = self._versions(body)
        except FetchProblem as problem:
            self.incidents.failed("index", self._message(str(problem)))
            return [], kept
        self.incidents.succeeded()
        events = [] if known is None else self._events(known, current)
        return events, {"versions": current, "index": fingerprint}

    def _versions(self, body: bytes) -> dict[str, str]:
        """The chart's versions in the index, with their digests ("" when the index has none)."""
        where = redact_url(self.index_url)
        try:
            index = yaml.load(body, Loader=_Loader)
        except yaml.YAMLError as exc:
            raise FetchProblem(f"{where} is not valid YAML: {exc}") from None
        if not isinstance(index, Mapping) or not isinstance(index.get("entries"), Mapping):
            raise FetchProblem(f"{where} is not a Helm repository index (it has no `entries`)")
        entries = index["entries"].get(self.chart) or []
        if not isinstance(entries, list):
            raise FetchProblem(f"{where}: the entries of chart {self.chart} are not a list")
        versions: dict[str, str] = {}
        for entry in entries:
            if isinstance(entry, Mapping) and entry.get("version") is not None:
                versions[str(entry["version"])] = str(entry.get("digest") or "")
        return versions

    def _events(self, known: dict[str, str], current: dict[str, str]) -> list[PolledEvent]:
        events = []
        for version, digest in current.items():
            if version not in known:
                events.append(self._event(version, digest, None))
            elif digest and known[version] and digest != known[version]:
                events.append(self._event(version, digest, known[version]))
        return events

    def _event(self, version: str, digest: str, previous: str | None) -> PolledEvent:
        payload: dict[str, Any] = {"account": self.account.name, "chart": self.chart, "version": version}
        payload["digest"] = digest or None
        if previous:
            payload["previousDigest"] = previous
        return PolledEvent(f"helm:{self.account.name}/{self.chart}:{version}:{digest}", payload)

    def _message(self, problem: str) -> str:
        return f"helm repository account {self.account.name}, chart {self.chart}: {problem}"

    def matches(self, trigger: Mapping[str, Any], event: PolledEvent) -> bool:
        return helm_trigger_matches(trigger, event.payload)

    def runtime_trigger(self, trigger: Mapping[str, Any], event: PolledEvent) -> dict[str, Any]:
        return helm_runtime_trigger(trigger, event.payload)


def helm_trigger_matches(trigger: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether a saved helm trigger wants an event `{account, chart, version, digest}`."""
    version = str(event.get("version") or "")
    if not version or not trigger.get("account") or not trigger.get("chart"):
        return False
    if trigger["account"] != event.get("account") or trigger["chart"] != event.get("chart"):
        return False
    constraint = str(trigger.get("version") or "").strip()
    if not constraint:
        return True
    try:
        return VersionRange(constraint).satisfied_by(version)
    except RangeError as error:
        log.info("helm trigger version %r is not a SemVer range and matches nothing: %s", constraint, error)
        return False


def helm_runtime_trigger(trigger: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    """The saved trigger's keys with the chart version found, its digest and the `helm/chart` artifact."""
    account, chart, version = str(event["account"]), str(event["chart"]), str(event["version"])
    artifact: dict[str, Any] = {
        "type": "helm/chart",
        "name": chart,
        "version": version,
        "artifactAccount": account,
        "reference": account,  # what Echo puts there
        "metadata": {"digest": event["digest"]} if event.get("digest") else {},
    }
    return {
        **dict(trigger),
        "type": "helm",
        "account": account,
        "chart": chart,
        "version": version,
        "digest": event.get("digest"),
        "eventId": str(uuid.uuid4()),
        "artifacts": [artifact],
    }


def _known_versions(state: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not state or not isinstance(state.get("versions"), Mapping):
        return None
    return {str(version): str(digest or "") for version, digest in state["versions"].items()}


def _incident_kind(message: str) -> str:
    status = re.search(r"returned HTTP (\d{3})", message)
    if status:
        return f"http-{status.group(1)}"
    if "Timeout" in message:
        return "timeout"
    if "not allowed" in message or "may only be sent" in message:
        return "refused"
    if "more than" in message:
        return "too-large"
    return "connect"
