"""Changes to live objects as Spinnaker stage contexts ("jobs" of a task, Gate's `POST /tasks`): what the
pages' and the CLI's actions run, through the same stage code as pipelines. Plain data: the CLI builds
them for a remote server too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gennaker.providers.kubernetes.kinds import full_name
from gennaker.providers.kubernetes.manifest import optional_whole_number, whole_number

# Action → the manifest stage that does it.
ACTIONS = {
    "scale": "scaleManifest",
    "undo": "undoRolloutManifest",
    "enable": "enableManifest",
    "disable": "disableManifest",
    "pause": "pauseRolloutManifest",
    "resume": "resumeRolloutManifest",
    "restart": "rollingRestartManifest",
    "delete": "deleteManifest",
}


def change_job(stage_type: str, account: str, location: str, name: str, application: str) -> dict[str, Any]:
    """A manifest stage acting on the object `name` ("<kind> <name>") in `location` of `account`."""
    return {
        "type": stage_type,
        "cloudProvider": "kubernetes",
        "account": account,
        "location": location,
        "manifestName": name,
        "app": application,
    }


def deploy_job(account: str, application: str, manifests: list[dict[str, Any]]) -> dict[str, Any]:
    """A `deployManifest` stage context for these manifests as they are (an ad-hoc deploy or an edit)."""
    return {
        "type": "deployManifest",
        "cloudProvider": "kubernetes",
        "account": account,
        "source": "text",
        "moniker": {"app": application},
        "manifests": manifests,
        "skipExpressionEvaluation": True,
    }


class BadValue(ValueError):
    """A form value an action cannot use; `field` names it."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def action_job(
    action: str, account: str, location: str, name: str, application: str, values: Mapping[str, str]
) -> dict[str, Any]:
    """The stage context for one of `ACTIONS`, its extra values taken from a form (`replicas` for scale,
    `revision` for undo: the previous one when not given)."""
    if action not in ACTIONS:
        raise BadValue("action", f"unknown action '{action}' (one of {', '.join(ACTIONS)})")
    job = change_job(ACTIONS[action], account, location, name, application)
    if action == "scale":
        replicas = whole_number(values.get("replicas"))
        if replicas is None:
            raise BadValue("replicas", "must be a whole number")
        job["replicas"] = replicas
    elif action == "undo":
        try:
            revision = optional_whole_number(str(values.get("revision") or "").strip())
        except ValueError as error:  # a typo must not become "the previous revision"
            raise BadValue("revision", f"{error} (leave it empty for the previous one)") from None
        job.update({"revision": revision} if revision is not None else {"numRevisionsBack": 1})
    elif action == "delete":
        job["options"] = {"cascading": True}
    return job


def replace_job(account: str, location: str, name: str, application: str, manifest: Any) -> dict[str, Any]:
    """The `deployManifest` context that replaces the live object `name` ("<kind> <name>") in `location` by
    `manifest`, which must be that object (kind and name cannot change); without a namespace it stays in
    `location`."""
    try:
        same = isinstance(manifest, dict) and full_name(manifest) == name
    except (KeyError, TypeError, AttributeError) as error:
        raise BadValue("manifest", f"is not a manifest: {error}") from None
    if not same:
        raise BadValue("manifest", f"must stay one {name} (kind and name cannot change here)")
    manifest["metadata"].setdefault("namespace", location)
    return deploy_job(account, application, [manifest])
