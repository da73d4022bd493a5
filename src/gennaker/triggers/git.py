"""Git push and pull-request events from GitHub, GitLab and Bitbucket (echo-igor.md §2.2, §7.3).

An event is read from the provider's payload and headers into `GitEvent` (project, slug, branch, hash,
action); a saved `git` trigger matches when its `source`, `project` and `slug` equal the event's (ignoring
case), its `branch` regex matches the whole branch, its `events` list (if any) holds the action, and the
event is signed with the trigger's `secret` when it has one. Signatures are HMACs of the raw body compared
in constant time (GitHub `X-Hub-Signature-256`, or the older SHA-1 `X-Hub-Signature`; Bitbucket Server
`X-Hub-Signature`); GitLab sends the secret itself in `X-Gitlab-Token`. The secret never leaves the saved
config: the execution's trigger does not carry it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

SOURCES = ("github", "gitlab", "bitbucket", "stash")
ZERO_HASH = "000000000"


class GitEventError(ValueError):
    """The payload is not an event of this provider (the message says what is missing)."""


@dataclass(frozen=True)
class GitEvent:
    source: str
    project: str
    slug: str
    branch: str
    hash: str
    action: str
    delivery: str | None = None  # the provider's id of this delivery, when it sends one
    properties: dict[str, Any] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _text(data: Any, *path: str) -> str:
    value = _get(data, *path)
    return str(value) if value is not None else ""


def _first(items: Any) -> Any:
    """The first item of a list; None when `items` is not a non-empty list (a malformed payload)."""
    return items[0] if isinstance(items, list) and items else None


def _branch(ref: str) -> str:
    return ref.replace("refs/heads/", "")


def read_event(source: str, headers: Mapping[str, str], payload: Any) -> GitEvent | None:
    """The event in a provider's delivery; None for deliveries that are not events (pings, zero hashes)."""
    if source not in SOURCES:
        raise GitEventError(f"unknown git source '{source}' (known: {', '.join(SOURCES)})")
    if not isinstance(payload, Mapping):
        raise GitEventError("the payload must be a JSON object")
    reader = {"github": _github, "gitlab": _gitlab, "bitbucket": _bitbucket, "stash": _stash}[source]
    return reader(headers, payload)


def _github(headers: Mapping[str, str], payload: Mapping[str, Any]) -> GitEvent | None:
    if "hook_id" in payload:  # the ping GitHub sends when a hook is created
        return None
    delivery = headers.get("x-github-delivery")
    repository = payload.get("repository")
    if not isinstance(repository, Mapping):
        raise GitEventError("a GitHub event needs repository")
    if isinstance(payload.get("pull_request"), Mapping):
        pull = payload["pull_request"]
        properties = {k: pull.get(k) for k in ("number", "draft", "state", "title") if pull.get(k) is not None}
        return GitEvent(
            "github",
            _text(repository, "owner", "login"),
            _text(repository, "name"),
            _text(pull, "head", "ref"),
            _text(pull, "head", "sha"),
            f"pull_request:{payload.get('action', '')}",
            delivery,
            properties,
        )
    after = _text(payload, "after")
    return GitEvent(
        "github",
        _text(repository, "owner", "name") or _text(repository, "owner", "login"),
        _text(repository, "name"),
        _branch(_text(payload, "ref")),
        after,
        "push:push",
        delivery,
        artifacts=_github_files(payload, after),
    )


def _changed_paths(payload: Mapping[str, Any]) -> list[str]:
    """Every path the pushed commits added or modified, once each."""
    commits = [c for c in payload.get("commits") or [] if isinstance(c, Mapping)]
    return sorted({str(p) for c in commits for p in (c.get("added") or []) + (c.get("modified") or [])})


def _github_files(payload: Mapping[str, Any], version: str) -> list[dict[str, Any]]:
    contents = _text(payload, "repository", "contents_url")
    paths = _changed_paths(payload)
    return [
        {"type": "github/file", "name": path, "version": version, "reference": contents.replace("{+path}", path)}
        for path in paths
        if contents
    ]


def _gitlab(headers: Mapping[str, str], payload: Mapping[str, Any]) -> GitEvent | None:
    project = payload.get("project")
    if not isinstance(project, Mapping):
        raise GitEventError("a GitLab event needs project")
    after = _text(payload, "after")
    full = _text(project, "path_with_namespace")
    base = _text(project, "homepage").removesuffix("/" + full)
    paths = _changed_paths(payload)
    artifacts = [
        {
            "type": "gitlab/file",
            "name": path,
            "version": after,
            "reference": f"{base}/api/v4/projects/{quote(full, safe='')}/repository/files/{quote(path, safe='')}/raw",
        }
        for path in paths
        if base and full
    ]
    return GitEvent(
        "gitlab",
        _text(project, "namespace"),
        _text(project, "name"),
        _branch(_text(payload, "ref")),
        after,
        _text(payload, "object_kind"),
        headers.get("x-gitlab-event-uuid"),
        artifacts=artifacts,
    )


def _bitbucket(headers: Mapping[str, str], payload: Mapping[str, Any]) -> GitEvent | None:
    event_type = headers.get("x-event-key") or _text(payload, "eventKey")
    if not event_type or not payload:  # a ping
        return None
    delivery = headers.get("x-request-uuid") or headers.get("x-request-id")
    repository = payload.get("repository") or _get(payload, "pullRequest", "toRef", "repository") or {}
    if isinstance(payload.get("push"), Mapping) or isinstance(payload.get("pullrequest"), Mapping):  # Cloud
        if event_type.startswith("pullrequest"):
            sha, branch = (
                _text(payload, "pullrequest", "merge_commit", "hash"),
                _text(payload, "pullrequest", "destination", "branch", "name"),
            )
        else:
            change = _first(_get(payload, "push", "changes"))
            sha = _text(_first(_get(change, "commits")), "hash")
            branch = _text(change, "new", "name")
        project = _text(repository, "owner", "username") or _text(repository, "project", "key")
        slug = _text(repository, "full_name")
    else:  # Server
        pull = payload.get("pullRequest")
        if isinstance(pull, Mapping):
            merged = event_type == "pr:merged"
            sha = _text(pull, "properties", "mergeCommit", "id") if merged else _text(pull, "fromRef", "latestCommit")
            branch = _branch(_text(pull, "toRef" if merged else "fromRef", "id"))
        else:
            change = _first(payload.get("changes"))
            sha, branch = _text(change, "toHash"), _branch(_text(change, "ref", "id") or _text(change, "refId"))
        project, slug = _text(repository, "project", "key"), _text(repository, "slug")
    if sha.startswith(ZERO_HASH):
        return None
    return GitEvent("bitbucket", project, slug, branch, sha, event_type, delivery)


def _stash(headers: Mapping[str, str], payload: Mapping[str, Any]) -> GitEvent | None:
    change = _first(payload.get("refChanges") or payload.get("changes"))
    sha = _text(change, "toHash")
    if sha.startswith(ZERO_HASH):
        return None
    repository = payload.get("repository") or {}
    return GitEvent(
        "stash",
        _text(repository, "project", "key"),
        _text(repository, "slug"),
        _branch(_text(change, "refId")),
        sha,
        "",
    )


# -- matching -----------------------------------------------------------------------------------------
def trigger_problem(trigger: Mapping[str, Any], event: GitEvent) -> str | None:
    """Why `trigger` does not want `event` (None: it does); secrets are checked by `signature_problem`."""
    for key in ("source", "project", "slug"):
        if str(trigger.get(key) or "").lower() != str(getattr(event, key)).lower():
            return f"{key} differs"
    branch = str(trigger.get("branch") or "")
    try:
        if branch and re.fullmatch(branch, event.branch) is None:
            return f"branch {event.branch} does not match {branch}"
    except re.error as error:
        return f"branch is not a regular expression: {error}"
    events = trigger.get("events") or []
    if events and event.action not in events:
        return f"action {event.action} is not one of {events}"
    return None


def signature_problem(secret: str | None, headers: Mapping[str, str], body: bytes) -> str | None:
    """Why the delivery is not signed with `secret` (None: it is, or neither side has a secret)."""
    token = headers.get("x-gitlab-token")
    signature = headers.get("x-hub-signature-256") or headers.get("x-hub-signature")
    if not secret:
        return "the event is signed but the trigger has no secret" if (token or signature) else None
    if token is not None:
        return None if hmac.compare_digest(token.encode(), secret.encode()) else "X-Gitlab-Token does not match"
    if not signature:
        return "the trigger has a secret and the event is not signed"
    algorithm, _, digest = signature.partition("=")
    if algorithm not in ("sha256", "sha1"):
        return f"unsupported signature algorithm {algorithm!r}"
    expected = hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()
    return None if hmac.compare_digest(expected, digest.lower()) else "the signature does not match"


def runtime_trigger(trigger: Mapping[str, Any], event: GitEvent, event_id: str) -> dict[str, Any]:
    """The execution's trigger: the saved one (without its secret) with what the event carried."""
    kept = {k: v for k, v in trigger.items() if k not in ("secret", "tag", "buildNumber")}
    return {
        **kept,
        "type": "git",
        "source": event.source,
        "project": event.project,
        "slug": event.slug,
        "branch": event.branch,
        "hash": event.hash,
        "action": event.action,
        "eventId": event_id,
        "properties": dict(event.properties),
        "artifacts": list(event.artifacts),
    }
