"""Per-kind stability rules with Spinnaker's messages (kubernetes.md §2.3), table-style."""

from __future__ import annotations

from typing import Any

import pytest

from gennaker.providers.kubernetes.stability import pod_failure, status_of


def deployment(status: dict[str, Any] | None, generation: int = 2, replicas: int = 3) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "kind": "Deployment",
        "metadata": {"name": "web", "generation": generation},
        "spec": {"replicas": replicas},
    }
    if status is not None:
        manifest["status"] = status
    return manifest


FULL = {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3, "readyReplicas": 3}


@pytest.mark.parametrize(
    ("manifest", "stable", "failed", "message"),
    [
        (deployment(None), False, False, "No status reported yet"),
        (
            deployment({**FULL, "observedGeneration": 1}),
            False,
            False,
            "Waiting for status generation to match updated object generation",
        ),
        (deployment({**FULL, "updatedReplicas": 1}), False, False, "Waiting for all replicas to be updated"),
        (deployment({**FULL, "replicas": 4}), False, False, "Waiting for old replicas to finish termination"),
        (deployment({**FULL, "availableReplicas": 2}), False, False, "Waiting for all replicas to be available"),
        (deployment({**FULL, "readyReplicas": 2}), False, False, "Waiting for all replicas to be ready"),
        (deployment(FULL), True, False, None),
        (
            deployment({**FULL, "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]}),
            True,
            True,
            None,
        ),
    ],
)
def test_deployment_rules(manifest: dict[str, Any], stable: bool, failed: bool, message: str | None) -> None:
    status = status_of(manifest)
    assert status.failed.state is failed
    if failed:
        assert status.failed.message == "Deployment exceeded its progress deadline"
        return
    assert status.stable.state is stable
    assert status.stable.message == message


def test_a_paused_deployment_reports_paused_and_is_not_stable_until_rolled_out() -> None:
    conditions = [{"type": "Progressing", "reason": "DeploymentPaused", "message": "Deployment is paused"}]
    status = status_of(deployment({**FULL, "updatedReplicas": 1, "conditions": conditions}))
    assert status.paused.state and status.paused.message == "Deployment is paused"
    assert not status.stable.state


def replica_set(**status: Any) -> dict[str, Any]:
    return {"kind": "ReplicaSet", "metadata": {"generation": 1}, "spec": {"replicas": 2}, "status": status}


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ({"fullyLabeledReplicas": 1}, "Waiting for all replicas to be fully-labeled"),
        ({"fullyLabeledReplicas": 2, "readyReplicas": 1}, "Waiting for all replicas to be ready"),
        (
            {"fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 1},
            "Waiting for all replicas to be available",
        ),
        (
            {"fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 2},
            "Waiting for replicaset spec update to be observed",
        ),
        ({"fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 2, "observedGeneration": 1}, None),
    ],
)
def test_replica_set_rules(status: dict[str, Any], message: str | None) -> None:
    result = status_of(replica_set(**status))
    assert result.stable.message == message
    assert result.stable.state is (message is None)
    assert not result.failed.state  # a ReplicaSet never reports failed


@pytest.mark.parametrize(
    ("kind", "spec", "status", "stable", "message"),
    [
        ("Pod", {}, {"phase": "Pending"}, False, "Pod is pending"),
        ("Pod", {}, {"phase": "Failed"}, False, "Pod has failed"),
        ("Pod", {}, {}, False, "Pod phase is unknown"),
        ("Pod", {}, {"phase": "Succeeded"}, True, None),
        ("Job", {}, {"succeeded": 0}, False, "Waiting for jobs to finish"),
        ("Job", {"completions": 2}, {"succeeded": 2}, True, None),
        ("StatefulSet", {"updateStrategy": {"type": "OnDelete"}}, None, True, None),
        (
            "StatefulSet",
            {"replicas": 2},
            {"observedGeneration": 1, "replicas": 1},
            False,
            "Waiting for at least the desired replica count to be met",
        ),
        (
            "StatefulSet",
            {"replicas": 2, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}},
            {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 1},
            True,
            "Partitioned roll out complete",
        ),
        (
            "StatefulSet",
            {"replicas": 1},
            {
                "observedGeneration": 1,
                "replicas": 1,
                "readyReplicas": 1,
                "currentReplicas": 1,
                "currentRevision": "a",
                "updateRevision": "b",
            },
            False,
            "Waiting for the updated revision to match the current revision",
        ),
        (
            "DaemonSet",
            {},
            {"observedGeneration": 1, "desiredNumberScheduled": 2, "currentNumberScheduled": 1},
            False,
            "Waiting for all replicas to be scheduled",
        ),
        (
            "HorizontalPodAutoscaler",
            {},
            {"currentReplicas": 1, "desiredReplicas": 3},
            False,
            "Waiting for HPA to complete a scale up, current: 1 desired: 3",
        ),
        ("Service", {}, None, True, None),
        ("CronJob", {}, {}, True, None),
    ],
)
def test_other_kinds(
    kind: str, spec: dict[str, Any], status: dict[str, Any] | None, stable: bool, message: str | None
) -> None:
    manifest: dict[str, Any] = {"kind": kind, "metadata": {"generation": 1}, "spec": spec}
    if status is not None:
        manifest["status"] = status
    result = status_of(manifest)
    assert (result.stable.state, result.stable.message) == (stable, message)


def test_a_job_with_a_failed_condition_fails_with_its_message() -> None:
    job = {
        "kind": "Job",
        "spec": {},
        "status": {
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                }
            ]
        },
    }
    result = status_of(job)
    assert result.failed.state and result.failed.message == "Job has reached the specified backoff limit"


def test_pod_failure_names_the_container_and_reason() -> None:
    pod = {
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "web",
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "x"'}},
                }
            ],
        }
    }
    assert pod_failure(pod) == "container 'web' ImagePullBackOff: Back-off pulling image \"x\""
    starting = {
        "status": {"containerStatuses": [{"name": "web", "state": {"waiting": {"reason": "ContainerCreating"}}}]}
    }
    assert pod_failure(starting) is None
