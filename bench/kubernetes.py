"""Kubernetes benchmark (issue 5): deploy 60 objects (20 Deployments, each with a Service and a
ConfigMap) to the Kubernetes API emulator, wait until all are stable, and count API requests.

    python bench/kubernetes.py [--json] [--apps 20]

`requests_per_object` counts only the apply path (versioning lists and applies), not the stability polls.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the emulator lives under tests/

from tests.emulators.kube import KubeEmulator

from gennaker.providers.kubernetes import KubeClient, KubernetesAccount
from gennaker.providers.kubernetes.deploy import Deployer, DeployRequest
from gennaker.providers.kubernetes.kinds import full_name
from gennaker.providers.kubernetes.operations import ManifestOperations


def manifests(apps: int) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for index in range(apps):
        name = f"app{index:02d}"
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"{name}-config"},
                "data": {"index": str(index)},
            }
        )
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name},
                "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
            }
        )
        pod = {
            "containers": [{"name": "web", "image": f"registry.local/{name}:1"}],
            "volumes": [{"name": "config", "configMap": {"name": f"{name}-config"}}],
        }
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}}, "spec": pod},
                },
            }
        )
    return objects


def run(apps: int) -> dict[str, Any]:
    with KubeEmulator() as kube, tempfile.TemporaryDirectory() as tmp:
        kubeconfig = kube.write_kubeconfig(Path(tmp) / "kubeconfig")
        client = KubeClient(KubernetesAccount(name="bench", kubeconfigFile=str(kubeconfig)))
        objects = manifests(apps)
        started = time.perf_counter()
        kube.reset_request_log()
        result = Deployer(client).deploy(DeployRequest(manifests=objects, moniker={"app": "bench"}))
        apply_requests = kube.request_count
        ops = ManifestOperations(client)
        pending = {full_name(m) for m in result.manifests}
        polls = 0
        while pending:
            polls += 1
            for manifest_name in sorted(pending):
                if ops.observe("default", manifest_name).status.stable.state:
                    pending.discard(manifest_name)
            if pending:
                time.sleep(0.05)
        wall = time.perf_counter() - started
        client.close()
    return {
        "objects": len(objects),
        "deploy60_wall_s": round(wall, 3),
        "apply_requests": apply_requests,
        "requests_per_object": round(apply_requests / len(objects), 2),
        "stability_poll_rounds": polls,
        "target_requests_per_object": 3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--apps", type=int, default=20)
    args = parser.parse_args()
    figures = run(args.apps)
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key:28} {value}")


if __name__ == "__main__":
    main()
