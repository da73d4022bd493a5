"""Is a deployed object stable, still settling, or failed? (kubernetes.md §2.2-§2.3)

Pure functions of the object's JSON, one rule set per kind, with Spinnaker's messages. One addition
over Spinnaker: `pod_failure` spots a pod that cannot start (image pull errors, crash loops) so the
wait fails at once with the pod's reason instead of running into the 30-minute timeout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Condition:
    state: bool
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "message": self.message}


@dataclass(slots=True)
class ManifestStatus:
    stable: Condition = field(default_factory=lambda: Condition(True))
    paused: Condition = field(default_factory=lambda: Condition(False))
    available: Condition = field(default_factory=lambda: Condition(True))
    failed: Condition = field(default_factory=lambda: Condition(False))

    def unstable(self, message: str) -> ManifestStatus:
        self.stable = Condition(False, message)
        return self

    def unavailable(self, message: str) -> ManifestStatus:
        self.available = Condition(False, message)
        return self

    def fail(self, message: str) -> ManifestStatus:
        self.failed = Condition(True, message)
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "stable": self.stable.to_json(),
            "paused": self.paused.to_json(),
            "available": self.available.to_json(),
            "failed": self.failed.to_json(),
        }

    @classmethod
    def none_reported(cls) -> ManifestStatus:
        return cls().unstable("No status reported yet").unavailable("No availability reported")


GENERATION_MISMATCH = "Waiting for status generation to match updated object generation"
# Container waiting reasons that mean the pod will not start without someone changing something.
FATAL_WAITING_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "ErrImageNeverPull",
    }
)


def status_of(manifest: dict[str, Any]) -> ManifestStatus:
    rule = _RULES.get(manifest.get("kind", ""))
    return rule(manifest) if rule else ManifestStatus()


def _counter(status: dict[str, Any], key: str) -> int:
    return int(status.get(key) or 0)


def _generation_matches(manifest: dict[str, Any]) -> bool:
    observed = (manifest.get("status") or {}).get("observedGeneration")
    return observed is not None and observed == (manifest.get("metadata") or {}).get("generation")


def _desired(manifest: dict[str, Any]) -> int:
    replicas = (manifest.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def _unreported(manifest: dict[str, Any]) -> ManifestStatus | None:
    """No status yet, or a status that describes an older generation of the spec."""
    if not manifest.get("status"):
        return ManifestStatus.none_reported()
    if not _generation_matches(manifest):
        return ManifestStatus().unstable(GENERATION_MISMATCH)
    return None


def _deployment(manifest: dict[str, Any]) -> ManifestStatus:
    unreported = _unreported(manifest)
    if unreported is not None:
        return unreported
    status, result = manifest["status"], ManifestStatus()
    conditions = status.get("conditions") or []
    for condition in conditions:
        if condition.get("reason") == "DeploymentPaused":
            result.paused = Condition(True, condition.get("message"))
        if condition.get("type") == "Available" and condition.get("status") == "False":
            result.unstable(condition.get("message") or "").unavailable(condition.get("message") or "")
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return result.fail("Deployment exceeded its progress deadline")
    desired = _desired(manifest)
    checks = (
        (_counter(status, "updatedReplicas") < desired, "Waiting for all replicas to be updated"),
        (
            _counter(status, "replicas") > _counter(status, "updatedReplicas"),
            "Waiting for old replicas to finish termination",
        ),
        (_counter(status, "availableReplicas") < desired, "Waiting for all replicas to be available"),
        (_counter(status, "readyReplicas") < desired, "Waiting for all replicas to be ready"),
    )
    for failing, message in checks:
        if failing:
            return result.unstable(message)
    return result


def _replica_set(manifest: dict[str, Any]) -> ManifestStatus:
    status = manifest.get("status") or {}
    desired = _desired(manifest)
    result = ManifestStatus()
    checks = (
        ("fullyLabeledReplicas", "Waiting for all replicas to be fully-labeled"),
        ("readyReplicas", "Waiting for all replicas to be ready"),
        ("availableReplicas", "Waiting for all replicas to be available"),
    )
    for key, message in checks:
        if desired > _counter(status, key):
            return result.unstable(message).unavailable(message)
    if not _generation_matches(manifest):
        return result.unstable("Waiting for replicaset spec update to be observed")
    return result


def _stateful_set(manifest: dict[str, Any]) -> ManifestStatus:
    spec = manifest.get("spec") or {}
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        return ManifestStatus()
    unreported = _unreported(manifest)
    if unreported is not None:
        return unreported
    status, result = manifest["status"], ManifestStatus()
    desired = _desired(manifest)
    if _counter(status, "replicas") < desired:
        return result.unstable("Waiting for at least the desired replica count to be met")
    if _counter(status, "readyReplicas") < desired:
        return result.unstable("Waiting for all updated replicas to be ready")
    rolling = strategy.get("rollingUpdate")
    if strategy.get("type", "RollingUpdate") == "RollingUpdate" and rolling and "updatedReplicas" in status:
        partition = rolling.get("partition")
        if partition is not None:
            if _counter(status, "updatedReplicas") < _counter(status, "replicas") - int(partition):
                return result.unstable("Waiting for partitioned roll out to finish")
            result.stable = Condition(True, "Partitioned roll out complete")
            return result
    if _counter(status, "currentReplicas") < desired:
        return result.unstable("Waiting for all updated replicas to be scheduled")
    if status.get("currentRevision") != status.get("updateRevision"):
        return result.unstable("Waiting for the updated revision to match the current revision")
    return result


def _daemon_set(manifest: dict[str, Any]) -> ManifestStatus:
    unreported = _unreported(manifest)
    if unreported is not None:
        return unreported
    status, result = manifest["status"], ManifestStatus()
    strategy = (manifest.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return result
    desired = _counter(status, "desiredNumberScheduled")
    checks = (
        ("currentNumberScheduled", "Waiting for all replicas to be scheduled"),
        ("updatedNumberScheduled", "Waiting for all updated replicas to be scheduled"),
        ("numberAvailable", "Waiting for all replicas to be available"),
        ("numberReady", "Waiting for all replicas to be ready"),
    )
    for key, message in checks:
        if _counter(status, key) < desired:
            return result.unstable(message)
    return result


def _pod(manifest: dict[str, Any]) -> ManifestStatus:
    phase = (manifest.get("status") or {}).get("phase")
    if phase == "Pending":
        return ManifestStatus().unstable("Pod is pending").unavailable("Pod is pending")
    if phase == "Failed":
        return ManifestStatus().unstable("Pod has failed").unavailable("Pod has failed")
    if phase in ("Running", "Succeeded"):
        return ManifestStatus()
    return ManifestStatus().unstable("Pod phase is unknown").unavailable("Pod phase is unknown")


def _job(manifest: dict[str, Any]) -> ManifestStatus:
    spec = manifest.get("spec") or {}
    status = manifest.get("status") or {}
    completions = 1 if spec.get("completions") is None else int(spec["completions"])
    if _counter(status, "succeeded") >= completions:
        return ManifestStatus()
    failed = job_failure(manifest)
    if failed is not None:
        return ManifestStatus().fail(failed.get("message") or failed.get("reason") or "Job failed")
    return ManifestStatus().unstable("Waiting for jobs to finish")


def job_failure(job: dict[str, Any]) -> dict[str, Any] | None:
    """The Job's `Failed=True` condition (e.g. BackoffLimitExceeded), if it has one."""
    conditions = (job.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Failed" and c.get("status") == "True"), None)


def _cron_job(manifest: dict[str, Any]) -> ManifestStatus:
    return ManifestStatus() if manifest.get("status") is not None else ManifestStatus.none_reported()


def _hpa(manifest: dict[str, Any]) -> ManifestStatus:
    status = manifest.get("status") or {}
    current, desired = _counter(status, "currentReplicas"), _counter(status, "desiredReplicas")
    if current < desired:
        return ManifestStatus().unstable(
            f"Waiting for HPA to complete a scale up, current: {current} desired: {desired}"
        )
    if current > desired:
        return ManifestStatus().unstable(
            f"Waiting for HPA to complete a scale down, current: {current} desired: {desired}"
        )
    return ManifestStatus()


_RULES = {
    "Deployment": _deployment,
    "ReplicaSet": _replica_set,
    "StatefulSet": _stateful_set,
    "DaemonSet": _daemon_set,
    "Pod": _pod,
    "Job": _job,
    "CronJob": _cron_job,
    "HorizontalPodAutoscaler": _hpa,
}


def pod_failure(pod: dict[str, Any]) -> str | None:
    """Why this pod cannot run (e.g. `ImagePullBackOff: Back-off pulling image "x"`), or None if it may yet."""
    status = pod.get("status") or {}
    containers = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
    for container in containers:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in FATAL_WAITING_REASONS:
            detail = waiting.get("message") or ""
            return f"container '{container.get('name')}' {reason}" + (f": {detail}" if detail else "")
    if status.get("phase") == "Failed" and status.get("reason"):
        return f"{status['reason']}: {status.get('message') or ''}".rstrip(": ")
    return None
