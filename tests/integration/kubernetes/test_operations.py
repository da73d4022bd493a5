"""Stages that change running objects, with static and dynamic targets (kubernetes.md §3.4, §4)."""

from __future__ import annotations

from typing import Any

import pytest

from gennaker.runtime import Runtime
from tests.emulators.kube import KubeEmulator
from tests.integration.kubernetes.conftest import error_of, run, stage
from tests.integration.kubernetes.manifests import config_map, deploy_stage, deployment, replica_set

pytestmark = pytest.mark.slow


def op(stage_type: str, ref_id: str = "1", **context: Any) -> dict[str, Any]:
    return {
        "refId": ref_id,
        "type": stage_type,
        "account": "emu",
        "cloudProvider": "kubernetes",
        "location": "default",
        **context,
    }


def succeeded(k8s: Runtime, stages: list[dict[str, Any]], name: str) -> dict[str, Any]:
    execution = run(k8s, stages, name=name)
    assert execution["status"] == "SUCCEEDED", error_of(execution)
    return execution


def live_deployment(kube: KubeEmulator) -> dict[str, Any]:
    found = kube.get_object("apps/v1", "Deployment", "default", "web")
    assert found is not None
    return found


def test_scale_patch_pause_resume_restart_and_undo_a_deployment(k8s: Runtime, kube: KubeEmulator) -> None:
    succeeded(k8s, [deploy_stage([deployment(image="nginx:1", config=None)])], "v1")
    succeeded(k8s, [deploy_stage([deployment(image="nginx:2", config=None)])], "v2")
    succeeded(k8s, [op("scaleManifest", manifestName="deployment web", replicas=3)], "scale")
    assert live_deployment(kube)["status"]["readyReplicas"] == 3

    patch = {"spec": {"template": {"metadata": {"labels": {"tier": "front"}}}}}
    succeeded(
        k8s,
        [
            op(
                "patchManifest",
                manifestName="deployment web",
                patchBody=patch,
                options={"mergeStrategy": "strategic", "record": True},
            )
        ],
        "patch",
    )
    patched = live_deployment(kube)
    assert patched["spec"]["template"]["metadata"]["labels"]["tier"] == "front"
    assert "kubernetes.io/change-cause" in patched["metadata"]["annotations"]

    succeeded(k8s, [op("pauseRolloutManifest", manifestName="deployment web")], "pause")
    assert live_deployment(kube)["spec"]["paused"] is True
    succeeded(k8s, [op("resumeRolloutManifest", manifestName="deployment web")], "resume")
    assert live_deployment(kube)["spec"]["paused"] is False

    succeeded(k8s, [op("rollingRestartManifest", manifestName="deployment web")], "restart")
    restarted = live_deployment(kube)["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in restarted

    execution = succeeded(k8s, [op("undoRolloutManifest", manifestName="deployment web", numRevisionsBack=1)], "undo")
    assert stage(execution, "1")["context"]["revision"] >= 1
    image = live_deployment(kube)["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "nginx:2"  # one revision back from the restart is the patched nginx:2 template


def test_undo_to_a_named_revision_restores_that_template(k8s: Runtime, kube: KubeEmulator) -> None:
    succeeded(k8s, [deploy_stage([deployment(image="nginx:1", config=None)])], "v1")
    succeeded(k8s, [deploy_stage([deployment(image="nginx:2", config=None)])], "v2")
    succeeded(k8s, [op("undoRolloutManifest", manifestName="deployment web", revision=1)], "undo")
    assert live_deployment(kube)["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1"
    too_far = run(k8s, [op("undoRolloutManifest", manifestName="deployment web", numRevisionsBack=9)], name="far")
    assert too_far["status"] == "TERMINAL" and "cannot rollback 9" in error_of(too_far)


@pytest.mark.parametrize(
    ("stage_type", "field", "value"),
    [("undoRolloutManifest", "revision", "${'³'}"), ("undoRolloutManifest", "numRevisionsBack", "${'x'}"),
     ("scaleManifest", "replicas", "${'" + "9" * 5000 + "'}")],
)
def test_a_number_an_expression_makes_that_is_not_one_fails_the_stage_by_name(
    k8s: Runtime, kube: KubeEmulator, stage_type: str, field: str, value: str
) -> None:
    succeeded(k8s, [deploy_stage([deployment(image="nginx:1", config=None)])], "v1")
    refused = run(k8s, [op(stage_type, manifestName="deployment web", **{field: value})], name="odd")
    assert refused["status"] == "TERMINAL" and f"{field} must be a whole number" in error_of(refused)
    assert live_deployment(kube)["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1"


def test_dynamic_targets_pick_newest_second_newest_and_oldest(k8s: Runtime, kube: KubeEmulator) -> None:
    for index in range(3):
        succeeded(k8s, [deploy_stage([replica_set(image=f"nginx:{index}", replicas=1 + index)])], f"rs{index}")
    dynamic = {"cluster": "replicaSet front", "kind": "replicaSet", "app": "shop"}
    execution = succeeded(k8s, [op("scaleManifest", criteria="second_newest", replicas=0, **dynamic)], "scale")
    assert stage(execution, "1")["context"]["manifestName"] == "replicaSet front-v001"
    assert kube.get_object("apps/v1", "ReplicaSet", "default", "front-v001")["spec"]["replicas"] == 0
    execution = succeeded(k8s, [op("deleteManifest", criteria="oldest", options={"cascading": True}, **dynamic)], "del")
    assert stage(execution, "1")["context"]["deletedManifests"] == ["replicaSet front-v000"]
    assert kube.get_object("apps/v1", "ReplicaSet", "default", "front-v000") is None
    missing = run(k8s, [op("scaleManifest", criteria="newest", replicas=1, **{**dynamic, "cluster": "nope"})], name="x")
    assert missing["status"] == "TERMINAL" and "No manifests matching" in error_of(missing)


def test_find_artifacts_from_a_resource_feeds_a_later_deploy(k8s: Runtime, kube: KubeEmulator) -> None:
    succeeded(k8s, [deploy_stage([config_map(), deployment(image="registry.local/shop/web:7")])], "staging")
    find = op("findArtifactFromResource", manifestName="deployment web")
    execution = succeeded(k8s, [find], "find")
    artifacts = stage(execution, "1")["outputs"]["artifacts"]
    image = next(a for a in artifacts if a["type"] == "docker/image")
    assert image == {
        "type": "docker/image",
        "name": "registry.local/shop/web",
        "reference": "registry.local/shop/web:7",
    }
    assert any(a["type"] == "kubernetes/configMap" and a["reference"] == "cfg-v000" for a in artifacts)


def test_delete_by_kind_and_label_selector(k8s: Runtime, kube: KubeEmulator) -> None:
    succeeded(k8s, [deploy_stage([config_map("a"), config_map("b")])], "cms")
    selectors = {"selectors": [{"key": "app.kubernetes.io/managed-by", "kind": "EQUALS", "values": ["spinnaker"]}]}
    execution = succeeded(k8s, [op("deleteManifest", kinds=["configMap"], labelSelectors=selectors)], "delete")
    assert sorted(stage(execution, "1")["context"]["deletedManifests"]) == ["configMap a-v000", "configMap b-v000"]


def test_patch_with_a_bad_strategy_names_the_field(k8s: Runtime) -> None:
    succeeded(k8s, [deploy_stage([config_map()])], "cm")
    execution = run(
        k8s,
        # A literal bad strategy is refused at save; one an expression yields is refused when the stage runs.
        [
            op(
                "patchManifest",
                manifestName="configMap cfg-v000",
                patchBody={},
                options={"mergeStrategy": "${'side' + 'ways'}"},
            )
        ],
        name="patch",
    )
    assert execution["status"] == "TERMINAL"
    assert "options.mergeStrategy must be one of strategic, json, merge" in error_of(execution)


def test_json_and_merge_patches_and_largest_smallest_targets(k8s: Runtime, kube: KubeEmulator) -> None:
    for index in range(2):
        succeeded(k8s, [deploy_stage([replica_set(image=f"nginx:{index}", replicas=3 - index)])], f"rs{index}")
    dynamic = {"cluster": "replicaSet front", "kind": "replicaSet", "app": "shop"}
    json_patch = [{"op": "add", "path": "/metadata/labels/size", "value": "largest"}]
    execution = succeeded(
        k8s,
        [
            op(
                "patchManifest",
                criteria="largest",
                patchBody=json_patch,
                options={"mergeStrategy": "json", "record": False},
                **dynamic,
            )
        ],
        "json",
    )
    assert stage(execution, "1")["context"]["manifestName"] == "replicaSet front-v000"
    merge = {"metadata": {"labels": {"size": "smallest"}}}
    succeeded(
        k8s,
        [op("patchManifest", criteria="smallest", patchBody=merge, options={"mergeStrategy": "merge"}, **dynamic)],
        "merge",
    )
    labels = [
        kube.get_object("apps/v1", "ReplicaSet", "default", f"front-v00{i}")["metadata"]["labels"]["size"]
        for i in range(2)
    ]
    assert labels == ["largest", "smallest"]
