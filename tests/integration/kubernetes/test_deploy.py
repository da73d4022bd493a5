"""Deploy (Manifest) end to end against the Kubernetes API emulator (kubernetes.md §1, §2)."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from gennaker.runtime import Runtime
from tests.emulators.kube import KubeEmulator
from tests.integration.kubernetes.conftest import error_of, run, stage
from tests.integration.kubernetes.manifests import config_map, deploy_stage, deployment, service
from tests.support import wait_status

pytestmark = pytest.mark.slow


def test_a_deploy_versions_configmaps_binds_them_and_waits_until_stable(k8s: Runtime, kube: KubeEmulator) -> None:
    execution = run(k8s, [deploy_stage([deployment(), service(), config_map()])])
    assert execution["status"] == "SUCCEEDED", error_of(execution)
    outputs = stage(execution, "1")["outputs"]
    assert outputs["manifestNamesByNamespace"] == {"default": ["configMap cfg-v000", "service web", "deployment web"]}
    created = {a["reference"]: a for a in outputs["createdArtifacts"]}
    assert created["cfg-v000"]["type"] == "kubernetes/configMap" and created["cfg-v000"]["version"] == "v000"
    live = kube.get_object("apps/v1", "Deployment", "default", "web")
    assert live is not None
    template = live["spec"]["template"]
    assert template["spec"]["volumes"][0]["configMap"]["name"] == "cfg-v000"
    annotations = live["metadata"]["annotations"]
    assert annotations["moniker.spinnaker.io/application"] == "shop"
    assert annotations["moniker.spinnaker.io/cluster"] == "deployment web"
    assert annotations["artifact.spinnaker.io/name"] == "web"
    assert live["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "spinnaker"
    assert template["metadata"]["annotations"]["moniker.spinnaker.io/application"] == "shop"
    assert live["status"]["readyReplicas"] == 2
    context = stage(execution, "1")["context"]
    assert {"manifestName": "deployment web", "location": "default"} in context["stableManifests"]


def test_an_identical_redeploy_reuses_the_version_and_a_change_makes_a_new_one(
    k8s: Runtime, kube: KubeEmulator
) -> None:
    first = run(k8s, [deploy_stage([config_map()])], name="first")
    again = run(k8s, [deploy_stage([config_map()])], name="again")
    changed = run(k8s, [deploy_stage([config_map(data={"greeting": "bonjour"})])], name="changed")
    names = [stage(e, "1")["outputs"]["manifestNamesByNamespace"]["default"] for e in (first, again, changed)]
    assert names == [["configMap cfg-v000"], ["configMap cfg-v000"], ["configMap cfg-v001"]]
    assert kube.get_object("v1", "ConfigMap", "default", "cfg-v001")["data"] == {"greeting": "bonjour"}


def test_max_version_history_deletes_the_oldest_versions(k8s: Runtime, kube: KubeEmulator) -> None:
    for index in range(4):
        cm = config_map(data={"n": str(index)}, annotations={"strategy.spinnaker.io/max-version-history": "2"})
        execution = run(k8s, [deploy_stage([cm])], name=f"v{index}")
        assert execution["status"] == "SUCCEEDED", error_of(execution)
    present = [kube.get_object("v1", "ConfigMap", "default", f"cfg-v00{i}") is not None for i in range(4)]
    assert present == [False, False, True, True]


def test_an_image_that_cannot_be_pulled_fails_the_stage_at_once_with_the_pod_reason(k8s: Runtime) -> None:
    execution = run(k8s, [deploy_stage([deployment(image="registry.local/bad-image:1", config=None)])], timeout=20)
    assert execution["status"] == "TERMINAL"
    message = error_of(execution)
    assert "'deployment web' in 'default' for account emu" in message
    assert "ErrImagePull" in message or "ImagePullBackOff" in message  # whichever the first poll sees


def test_a_namespace_outside_the_account_fails_with_a_reason(k8s: Runtime) -> None:
    execution = run(k8s, [deploy_stage([deployment(namespace="elsewhere", config=None)], account="narrow")])
    assert execution["status"] == "TERMINAL"
    assert "namespace 'elsewhere' is not one of account 'narrow''s namespaces" in error_of(execution)


def test_an_unknown_account_fails_with_its_name(k8s: Runtime) -> None:
    execution = run(k8s, [deploy_stage([config_map()], account="nope")])
    assert execution["status"] == "TERMINAL"
    assert error_of(execution) == "unknown Kubernetes account 'nope'"


def test_required_docker_artifacts_are_bound_into_images(k8s: Runtime, kube: KubeEmulator) -> None:
    image = {"type": "docker/image", "name": "registry.local/shop/web", "reference": "registry.local/shop/web:2.0"}
    manifest = deployment(image="registry.local/shop/web:latest", config=None)
    execution = run(k8s, [deploy_stage([manifest])], trigger={"artifacts": [image]})
    assert execution["status"] == "SUCCEEDED", error_of(execution)
    live = kube.get_object("apps/v1", "Deployment", "default", "web")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/shop/web:2.0"
    assert stage(execution, "1")["outputs"]["boundArtifacts"][0]["reference"] == "registry.local/shop/web:2.0"


def test_last_applied_configuration_is_written_for_kubectl_and_version_reuse(k8s: Runtime, kube: KubeEmulator) -> None:
    run(k8s, [deploy_stage([config_map()])])
    live = kube.get_object("v1", "ConfigMap", "default", "cfg-v000")
    applied = json.loads(live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert applied["data"] == {"greeting": "hello"} and applied["metadata"]["name"] == "cfg-v000"


def test_namespace_override_replace_and_generate_name(k8s: Runtime, kube: KubeEmulator) -> None:
    replaced = config_map(
        "settings", annotations={"strategy.spinnaker.io/replace": "true", "strategy.spinnaker.io/versioned": "false"}
    )
    generated = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "run-"}, "data": {"a": "b"}}
    cluster_scoped = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    stages = [deploy_stage([cluster_scoped, replaced, generated], namespaceOverride="team-a")]
    execution = run(k8s, stages)
    assert execution["status"] == "SUCCEEDED", error_of(execution)
    names = stage(execution, "1")["outputs"]["manifestNamesByNamespace"]
    assert names[""] == ["namespace team-a"]
    assert names["team-a"][0] == "configMap settings"
    assert names["team-a"][1].startswith("configMap run-")
    assert kube.get_object("v1", "ConfigMap", "team-a", "settings") is not None
    again = run(k8s, [deploy_stage([replaced], namespaceOverride="team-a")], name="again")
    assert again["status"] == "SUCCEEDED", error_of(again)


def test_a_failed_expression_in_an_artifact_manifest_can_fail_the_deploy(k8s: Runtime) -> None:
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"v": "${nope.missing}"}}
    text = yaml.safe_dump(manifest)
    artifact = {"type": "embedded/base64", "name": "m", "reference": base64.b64encode(text.encode()).decode()}
    stages = [deploy_stage([], source="artifact", manifestArtifact=artifact, failOnFailedExpressions=True)]
    execution = run(k8s, stages)
    assert execution["status"] == "TERMINAL"
    assert error_of(execution).startswith("Failure evaluating manifest expressions")


def test_an_execution_changes_an_account_only_as_a_user_allowed_to(k8s: Runtime, kube: KubeEmulator) -> None:
    k8s.kubernetes.account_check = lambda user, account, permission: user == "deploy-bot"
    refused = run(k8s, [deploy_stage([config_map()])], name="refused")
    assert refused["status"] == "TERMINAL"
    assert error_of(refused) == "tester lacks WRITE permission on account 'emu'"
    assert kube.get_object("v1", "ConfigMap", "default", "cfg-v000") is None
    trigger = {"type": "webhook", "source": "bot", "runAsUser": "deploy-bot"}
    config = {"application": "shop", "name": "bot", "stages": [deploy_stage([config_map()])], "triggers": [trigger]}
    saved = k8s.save_pipeline(config, "tester")
    execution_id, refused = k8s.starts.event(saved, trigger, "tester", "webhook:event-1:bot", 0)
    assert refused is None and execution_id is not None
    allowed = wait_status(k8s, execution_id, "SUCCEEDED", "TERMINAL", timeout=30)
    assert allowed["status"] == "SUCCEEDED", error_of(allowed)


def test_label_selectors_pick_which_manifests_deploy(k8s: Runtime, kube: KubeEmulator) -> None:
    labelled = [config_map("a"), config_map("b")]
    labelled[0]["metadata"]["labels"] = {"tier": "front"}
    labelled[1]["metadata"]["labels"] = {"tier": "back"}

    def selecting(values: list[str], **extra: object) -> dict[str, object]:
        selectors = {"selectors": [{"key": "tier", "kind": "CONTAINS", "values": values}]}
        return deploy_stage(labelled, labelSelectors=selectors, **extra)

    front = run(k8s, [selecting(["front"])], name="front")
    assert front["status"] == "SUCCEEDED", error_of(front)
    assert stage(front, "1")["outputs"]["manifestNamesByNamespace"] == {"default": ["configMap a-v000"]}
    assert kube.get_object("v1", "ConfigMap", "default", "b-v000") is None
    nothing = run(k8s, [selecting(["edge"])], name="nothing")
    assert nothing["status"] == "TERMINAL"
    assert error_of(nothing).startswith("nothing deployed to account emu with label selector(s)")
    allowed = run(k8s, [selecting(["edge"], allowNothingSelected=True)], name="allowed")
    assert allowed["status"] == "SUCCEEDED", error_of(allowed)


def test_custom_resources_deploy_with_their_crds_scope(k8s: Runtime, kube: KubeEmulator) -> None:
    for scope, kind in (("Cluster", "Widget"), ("Namespaced", "Gadget")):
        kube.put_object(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": f"{kind.lower()}s.example.com"},
                "spec": {
                    "group": "example.com",
                    "scope": scope,
                    "names": {"kind": kind, "plural": f"{kind.lower()}s", "singular": kind.lower()},
                    "versions": [
                        {
                            "name": "v1",
                            "served": True,
                            "storage": True,
                            "schema": {
                                "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                            },
                        }
                    ],
                },
            }
        )
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}
    gadget = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": {"size": 2}}
    execution = run(k8s, [deploy_stage([widget, gadget])])
    assert execution["status"] == "SUCCEEDED", error_of(execution)
    names = stage(execution, "1")["outputs"]["manifestNamesByNamespace"]
    assert names == {"": ["Widget.example.com w"], "default": ["Gadget.example.com g"]}
    assert kube.get_object("example.com/v1", "Gadget", "default", "g")["spec"] == {"size": 2}
