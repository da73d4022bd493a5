"""Kubernetes benchmark (issues 5 and 17): deploy 60 objects (20 Deployments, each with a Service and a
ConfigMap) to the Kubernetes API emulator, wait until all are stable, and count API requests; then the same
in a namespace crowded with 2,000 unrelated ConfigMaps, whose cost should not show in the deploy.

    python bench/kubernetes.py [--json] [--apps 20] [--crowd 2000] [--rounds 3]

Rounds alternate empty and crowded namespaces (a fresh emulator each) and report medians. The wall time is
split into Gennaker's own time (CPU time of the thread that deploys and polls: preparing manifests, the HTTP
client, decoding answers) and the emulator's (wall minus own: the emulator serving requests in this process,
and its controllers rolling pods out between polls). `apply` is the deploy call, `rollout` the wait until
stable. `requests_per_object` counts only the apply path (version lookups by label, checks that the next
version's name is free, applies), not the stability polls.
"""

from __future__ import annotations

import argparse
import json
import statistics
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

TARGET_CROWDED_RATIO = 1.5
MAX_POLL_ROUNDS = 600  # 30 s of 50 ms polls: a rollout that never settles fails the benchmark


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


def crowd(kube: KubeEmulator, count: int) -> None:
    """Unrelated ConfigMaps of about 1 KB, written straight into the emulator's store (no HTTP)."""
    for index in range(count):
        kube.put_object(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"unrelated-{index:04d}", "namespace": "default", "labels": {"team": "other"}},
                "data": {"settings": "x" * 1000},
            }
        )


def deploy_once(apps: int, unrelated: int) -> dict[str, float]:
    """One deploy and wait, in a fresh emulator holding `unrelated` ConfigMaps."""
    with KubeEmulator() as kube, tempfile.TemporaryDirectory() as tmp:
        crowd(kube, unrelated)
        kubeconfig = kube.write_kubeconfig(Path(tmp) / "kubeconfig")
        client = KubeClient(KubernetesAccount(name="bench", kubeconfigFile=str(kubeconfig)))
        objects = manifests(apps)
        kube.reset_request_log()
        started, own_started = time.perf_counter(), time.thread_time()
        result = Deployer(client).deploy(DeployRequest(manifests=objects, moniker={"app": "bench"}))
        applied, own_applied = time.perf_counter(), time.thread_time()
        apply_requests = kube.request_count
        ops = ManifestOperations(client)
        pending = {full_name(m) for m in result.manifests}
        polls = 0
        while pending:
            polls += 1
            if polls > MAX_POLL_ROUNDS:
                raise RuntimeError(f"not stable after {MAX_POLL_ROUNDS} poll rounds: {sorted(pending)}")
            for manifest_name in sorted(pending):
                if ops.observe("default", manifest_name).status.stable.state:
                    pending.discard(manifest_name)
            if pending:
                time.sleep(0.05)
        wall, own = time.perf_counter() - started, time.thread_time() - own_started
        client.close()
    return {
        "objects": len(objects),
        "wall": wall,
        "own": own,
        "apply": applied - started,
        "apply_own": own_applied - own_started,
        "requests": apply_requests,
        "polls": polls,
    }


def run(apps: int, unrelated: int, rounds: int) -> dict[str, Any]:
    empty: list[dict[str, float]] = []
    crowded: list[dict[str, float]] = []
    for _ in range(rounds):
        empty.append(deploy_once(apps, 0))
        crowded.append(deploy_once(apps, unrelated))

    def median(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    objects = int(empty[0]["objects"])
    wall, wall_crowded = median(empty, "wall"), median(crowded, "wall")
    apply, apply_crowded = median(empty, "apply"), median(crowded, "apply")
    own, own_crowded = median(empty, "own"), median(crowded, "own")
    requests = int(median(empty, "requests"))
    return {
        "objects": objects,
        "unrelated_objects": unrelated,
        "rounds": rounds,
        "deploy60_wall_s": round(wall, 3),
        "deploy60_wall_s_crowded": round(wall_crowded, 3),
        "crowded_ratio": round(wall_crowded / wall, 2),
        "target_crowded_ratio": TARGET_CROWDED_RATIO,
        "deploy60_apply_s": round(apply, 3),
        "deploy60_apply_s_crowded": round(apply_crowded, 3),
        "apply_crowded_ratio": round(apply_crowded / apply, 2),
        "deploy60_rollout_s": round(wall - apply, 3),
        "deploy60_own_s": round(own, 3),
        "deploy60_emulator_s": round(wall - own, 3),
        "deploy60_apply_own_s": round(median(empty, "apply_own"), 3),
        "deploy60_own_s_crowded": round(own_crowded, 3),
        "deploy60_emulator_s_crowded": round(wall_crowded - own_crowded, 3),
        "apply_requests": requests,
        "apply_requests_crowded": int(median(crowded, "requests")),
        "requests_per_object": round(requests / objects, 2),
        "stability_poll_rounds": int(median(empty, "polls")),
        "target_requests_per_object": 3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--apps", type=int, default=20)
    parser.add_argument("--crowd", type=int, default=2000, help="unrelated ConfigMaps in the crowded namespace")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not 1 <= args.apps <= 200 or not 0 <= args.crowd <= 20000 or not 1 <= args.rounds <= 20:
        parser.error("--apps must be 1-200, --crowd 0-20000, --rounds 1-20")
    figures = run(args.apps, args.crowd, args.rounds)
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key:30} {value}")


if __name__ == "__main__":
    main()
