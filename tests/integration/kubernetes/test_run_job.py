"""Run Job (Manifest): one Job, re-created each run, its printed properties become outputs (kubernetes.md §4.8)."""

from __future__ import annotations

from typing import Any

import pytest

from gennaker.runtime import Runtime
from tests.emulators.kube import KubeEmulator
from tests.integration.kubernetes.conftest import error_of, run, stage

pytestmark = pytest.mark.slow

LOGS = "\n".join(
    [
        "starting migration",
        "SPINNAKER_PROPERTY_VERSION=42",
        "SPINNAKER_PROPERTY_URL=http://x/?a=b",
        'SPINNAKER_CONFIG_JSON={"tables": 3, "ok": true}',
    ]
)


def job(image: str = "migrate:1") -> dict[str, Any]:
    container = {"name": "main", "image": image, "env": [{"name": "EMULATOR_LOGS", "value": LOGS}]}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate", "namespace": "default"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [container]}}},
    }


def run_job(manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "refId": "1",
        "type": "runJob",
        "cloudProvider": "kubernetes",
        "account": "emu",
        "application": "shop",
        "manifest": manifest,
        "consumeArtifactSource": "propertyFile",
        "propertyFile": "main",
    }


def test_a_job_runs_again_each_time_and_its_properties_become_outputs(k8s: Runtime, kube: KubeEmulator) -> None:
    first = run(k8s, [run_job(job())], name="first")
    assert first["status"] == "SUCCEEDED", error_of(first)
    uid = kube.get_object("batch/v1", "Job", "default", "migrate")["metadata"]["uid"]
    outputs = stage(first, "1")["outputs"]
    assert outputs["version"] == "42"
    assert "url" not in outputs  # a value holding '=' is dropped, as Spinnaker does
    assert outputs["tables"] == 3 and outputs["ok"] is True
    assert outputs["propertyFileContents"]["version"] == "42"
    second = run(k8s, [run_job(job())], name="second")
    assert second["status"] == "SUCCEEDED", error_of(second)
    assert kube.get_object("batch/v1", "Job", "default", "migrate")["metadata"]["uid"] != uid


def test_a_failing_job_fails_the_stage_with_the_reason(k8s: Runtime) -> None:
    execution = run(k8s, [run_job(job(image="migrate-fail:1"))])
    assert execution["status"] == "TERMINAL"
    message = error_of(execution)
    assert message.startswith("Job: 'migrate' failed.")
    assert "BackoffLimitExceeded" in message


def test_run_job_accepts_only_a_single_job(k8s: Runtime) -> None:
    not_a_job = {**job(), "kind": "Deployment", "apiVersion": "apps/v1"}
    execution = run(k8s, [run_job(not_a_job)])
    assert execution["status"] == "TERMINAL"
    assert error_of(execution) == "Only kind of Job is accepted for the Run Job operation."
