"""Bake benchmark (issue 6): render a Helm chart of 30 templates through the `bakeManifest` path
(fetch an embedded chart archive, apply overrides, render, encode the output artifact).

    python bench/bake.py [--json] [--runs 50] [--helm PATH]

In process through Helm's own engine (helm-python-sdk); with a `helm` binary too when one is on PATH
or given with --helm.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import helm_python

from gennaker.artifacts import ArtifactFetcher, artifact_accounts
from gennaker.bake import HelmBinaryRenderer, bake, parse_bake_request, render_helm
from gennaker.bake.helm import HelmRenderer

TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{{{ .Release.Name }}}}-svc{index}
  labels: {{app: {{{{ .Release.Name }}}}, part: "{index}"}}
spec:
  replicas: {{{{ .Values.replicas }}}}
  selector:
    matchLabels: {{app: {{{{ .Release.Name }}}}-svc{index}}}
  template:
    metadata:
      labels: {{app: {{{{ .Release.Name }}}}-svc{index}}}
    spec:
      containers:
        - name: main
          image: "{{{{ .Values.image.repository }}}}:{{{{ .Values.image.tag }}}}"
          env:
            {{{{- range $key, $value := .Values.env }}}}
            - name: {{{{ $key }}}}
              value: {{{{ $value | quote }}}}
            {{{{- end }}}}
"""
VALUES = "replicas: 2\nimage: {repository: nginx, tag: '1.25'}\nenv: {A: '1', B: '2', C: '3'}\n"


def chart_archive(root: Path, templates: int) -> bytes:
    chart = root / "bench"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: bench\nversion: 1.0.0\n")
    (chart / "values.yaml").write_text(VALUES)
    for index in range(templates):
        (chart / "templates" / f"svc{index:02d}.yaml").write_text(TEMPLATE.format(index=index))
    return Path(helm_python.package(chart, destination=root / "dist")).read_bytes()


def context(archive: bytes) -> dict[str, Any]:
    chart = {"type": "embedded/base64", "name": "bench", "reference": base64.b64encode(archive).decode()}
    return {
        "templateRenderer": "HELM3",
        "outputName": "bench",
        "namespace": "bench",
        "inputArtifacts": [{"id": "chart", "account": "embedded-artifact", "artifact": chart}],
        "overrides": {"image.repository": "registry.local/bench", "image.tag": "2.0"},
        "expectedArtifacts": [{"id": "out", "matchArtifact": {"type": "embedded/base64", "name": "baked"}}],
    }


def measure(archive: bytes, runs: int, helm: HelmRenderer, fetcher: ArtifactFetcher) -> list[float]:
    request = parse_bake_request(context(archive))
    bake(request, fetcher, helm=helm)  # warm up (loads the Go library)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        baked = bake(request, fetcher, helm=helm)
        timings.append((time.perf_counter() - started) * 1000)
    documents = base64.b64decode(baked["reference"]).decode().count("kind: Deployment")
    assert documents >= 30, f"expected 30 rendered Deployments, got {documents}"
    return timings


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--templates", type=int, default=30)
    parser.add_argument("--helm", default=shutil.which("helm"), help="a helm binary to compare with")
    args = parser.parse_args()
    fetcher = ArtifactFetcher(artifact_accounts({}))
    with tempfile.TemporaryDirectory() as tmp:
        archive = chart_archive(Path(tmp), args.templates)
        timings = measure(archive, args.runs, render_helm, fetcher)
        figures: dict[str, Any] = {
            "templates": args.templates,
            "runs": args.runs,
            "bake_p50_ms": round(statistics.median(timings), 2),
            "bake_p99_ms": round(percentile(timings, 0.99), 2),
            "target_p50_ms": 100,
        }
        if args.helm:
            binary = measure(archive, max(5, args.runs // 5), HelmBinaryRenderer(args.helm), fetcher)
            figures["binary_bake_p50_ms"] = round(statistics.median(binary), 2)
            figures["binary_bake_p99_ms"] = round(percentile(binary, 0.99), 2)
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key:22} {value}")


if __name__ == "__main__":
    main()
