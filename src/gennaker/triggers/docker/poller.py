"""The Docker trigger: one poller per registry account and repository (echo-igor.md §2.3).

Each poll lists the repository's tags and reads each tag's manifest digest. The stored state is the tags
with their digests. The first poll records them and fires nothing (Igor indexes silently), a tag not seen
before is an event, and so is a known tag whose digest changed (the tag was pushed again with other
content). A digest seen for the first time under a known tag (digest tracking just turned on) is stored
without an event, as Igor does, so turning it on causes no storm. With `trackDigests: false` only new tags
are events, and only their digests are read.

Event key: `docker:<account>/<repository>:<tag>:<digest>`, so the same content under the same tag never
starts a pipeline twice, whichever scheduler process sees it.

Matching follows Echo's `DockerEventHandler`: `account` and `repository` must be equal; `registry` and
`organization` are not compared; a blank `tag` matches any tag except `latest`; otherwise the trimmed `tag`
is a regex that must match the whole tag (an invalid one matches nothing). The execution's trigger is the
saved trigger with the actual `tag` (replacing the pattern), `digest`, `registry` and a `docker/image`
artifact `<registry>/<repository>` at `<registry>/<repository>:<tag>`, Echo's own received artifact.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

import re2

from gennaker.triggers.docker.accounts import DockerRegistryAccount
from gennaker.triggers.docker.registry_client import RegistryClient, RegistryError
from gennaker.triggers.incidents import IncidentLog
from gennaker.triggers.scheduler import PolledEvent

log = logging.getLogger("gennaker.triggers.docker")


class DockerPoller:
    """Tags and digests of one repository of one registry account."""

    trigger_type = "docker"

    def __init__(self, account: DockerRegistryAccount, repository: str, client: RegistryClient):
        self.account = account
        self.repository = repository
        self.client = client
        self.key = f"docker:{account.name}/{repository}"
        self.interval_s = float(account.cacheIntervalSeconds)
        self.incidents = IncidentLog(log, f"docker poller {account.name}/{repository}")

    def poll(self, state: dict[str, Any] | None) -> tuple[list[PolledEvent], dict[str, Any]]:
        known = _known_tags(state)
        try:
            tags = self.client.tags(self.repository)
        except RegistryError as error:
            self.incidents.failed(error.incident, str(error))
            return [], dict(state) if state is not None else {}
        current, failures = self._digests(tags, known)
        if failures and len(failures) == len(tags):
            first = failures[0]
            self.incidents.failed(f"digest-{first.incident}", str(first))
            return [], dict(state) if state is not None else {}
        if failures:
            self.incidents.failed(
                f"digest-partial-{failures[0].incident}",
                f"the digests of {len(failures)} of {len(tags)} tags could not be read this time; "
                f"the first: {failures[0]}",
            )
        else:
            self.incidents.succeeded()
        events = [] if known is None else self._events(known, current)
        return events, {"tags": current}

    def _digests(
        self, tags: list[str], known: dict[str, str | None] | None
    ) -> tuple[dict[str, str | None], list[RegistryError]]:
        """Each listed tag's digest (read for every tag when tracking digests, else for new tags only). A tag
        that disappeared meanwhile is left out; one whose digest could not be read keeps what was known."""
        current: dict[str, str | None] = {}
        failures: list[RegistryError] = []
        if self.account.trackDigests:
            wanted = list(tags)
        else:  # only new tags, and none on the first poll
            wanted = [t for t in tags if t not in known] if known is not None else []
        found = self.client.digests(self.repository, wanted)
        for tag in tags:
            seen = known is not None and tag in known
            if tag not in found:
                current[tag] = known.get(tag) if known is not None else None
                continue
            digest = found[tag]
            if isinstance(digest, RegistryError):
                failures.append(digest)
                if seen and known is not None:
                    current[tag] = known[tag]
            elif digest is not None:
                current[tag] = digest
        return current, failures

    def _events(self, known: dict[str, str | None], current: dict[str, str | None]) -> list[PolledEvent]:
        events = []
        for tag, digest in current.items():
            if tag not in known:
                events.append(self._event(tag, digest, None))
            elif digest is not None and known[tag] is not None and digest != known[tag]:
                events.append(self._event(tag, digest, known[tag]))
        return events

    def _event(self, tag: str, digest: str | None, previous: str | None) -> PolledEvent:
        payload: dict[str, Any] = {
            "account": self.account.name,
            "registry": self.account.registry,
            "repository": self.repository,
            "tag": tag,
            "digest": digest,
        }
        if previous is not None:
            payload["previousDigest"] = previous
        key = f"docker:{self.account.name}/{self.repository}:{tag}:{digest or ''}"
        return PolledEvent(key, payload)

    def matches(self, trigger: Mapping[str, Any], event: PolledEvent) -> bool:
        return docker_trigger_matches(trigger, event.payload)

    def runtime_trigger(self, trigger: Mapping[str, Any], event: PolledEvent) -> dict[str, Any]:
        return docker_runtime_trigger(trigger, event.payload)


def docker_trigger_matches(trigger: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Echo's rule for one saved docker trigger and one event `{account, repository, tag, ...}`."""
    tag = str(event.get("tag") or "")
    account, repository = trigger.get("account"), trigger.get("repository")
    if not tag or not account or not repository:
        return False
    if account != event.get("account") or repository != event.get("repository"):
        return False
    pattern = str(trigger.get("tag") or "").strip()
    if not pattern:
        return tag != "latest"
    try:
        return re2.fullmatch(pattern, tag) is not None
    except re2.error:
        log.info("docker trigger tag %r is not a valid regex and matches nothing", pattern)
        return False


def docker_runtime_trigger(trigger: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    """The execution's trigger: the saved trigger's keys, the event's account, registry, repository, tag and
    digest, and the image as a `docker/image` artifact."""
    registry, repository, tag = str(event["registry"]), str(event["repository"]), str(event["tag"])
    name = f"{registry}/{repository}"
    artifact: dict[str, Any] = {
        "type": "docker/image",
        "name": name,
        "version": tag,
        "reference": f"{name}:{tag}",
        "metadata": {"registry": registry, **({"digest": event["digest"]} if event.get("digest") else {})},
    }
    return {
        **dict(trigger),
        "type": "docker",
        "account": event["account"],
        "registry": registry,
        "repository": repository,
        "tag": tag,
        "digest": event.get("digest"),
        "eventId": str(uuid.uuid4()),
        "artifacts": [artifact],
    }


def _known_tags(state: Mapping[str, Any] | None) -> dict[str, str | None] | None:
    """The tags and digests of the last successful poll; None before the first one."""
    if not state or not isinstance(state.get("tags"), Mapping):
        return None
    return {str(tag): (str(digest) if digest else None) for tag, digest in state["tags"].items()}
