"""Bake limits: a chart or kustomization supplied by a pipeline cannot render without bound, run forever, unpack
without bound, smuggle options onto a renderer's command line, or make kustomize reach the network.

Nothing here connects beyond loopback: remote kustomize entries are refused before kubectl runs (a fake
kubectl proves it never started), and the network-blocking environment is read back from a fake kubectl.
"""

from __future__ import annotations

import io
import os
import resource
import signal
import sys
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from gennaker.bake import BakeError, BakeLimits, HelmBinaryRenderer, HelmEngineRenderer, bake, parse_bake_request
from gennaker.bake.archive import extract_tarball
from gennaker.bake.kustomize import render_kustomize
from gennaker.bake.process import run_limited
from tests.unit.bake.charts import write_chart
from tests.unit.bake.test_helm import HELM_OPTIONS
from tests.unit.bake.test_kustomize import BASE, write

INJECTION = "--post-renderer=/bin/sh"
OUTPUT = {"id": "out", "matchArtifact": {"type": "embedded/base64", "name": "manifests"}}


def tiny_chart(root: Path, template: str) -> Path:
    chart = root / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\n")
    (chart / "templates" / "t.yaml").write_text(template)
    return chart


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def running_children() -> list[int]:
    """Processes, zombies included, whose parent is this test process (read from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = stat.read_text().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        if int(ppid) == os.getpid():
            children.append(int(stat.parent.name))
    return children


def gone(pid: int) -> bool:
    """The process has exited (a zombie left to an init that does not reap counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def tarball(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def kustomize_request(path: str = "overlays/prod") -> Any:
    git = {"type": "git/repo", "reference": "https://git.example.com/shop.git"}
    context = {"templateRenderer": "KUSTOMIZE", "inputArtifact": {"artifact": git}, "kustomizeFilePath": path}
    return parse_bake_request({**context, "expectedArtifacts": [OUTPUT]})


# -- rendered size -------------------------------------------------------------------------------------------


def test_a_small_chart_rendering_past_the_output_limit_fails(tmp_path: Path) -> None:
    chart = tiny_chart(tmp_path, "{{ range until 200000 }}\n---\nkind: ConfigMap\nmetadata: {name: x}\n{{ end }}")
    assert sum(p.stat().st_size for p in chart.rglob("*") if p.is_file()) < 300
    started = time.monotonic()
    with pytest.raises(BakeError, match=r"the Helm render produced more than 1048576 bytes .*bake\.maxOutputBytes"):
        HelmEngineRenderer(BakeLimits(max_output_bytes=1024 * 1024))(chart, [], {}, **HELM_OPTIONS)
    assert time.monotonic() - started < 20
    assert running_children() == []


def test_a_helm_binary_writing_without_end_is_stopped_at_the_output_limit(tmp_path: Path) -> None:
    helm = script(tmp_path / "helm", "yes 'kind: ConfigMap'\n")
    limits = BakeLimits(max_output_bytes=100_000, render_timeout_s=30)
    started = time.monotonic()
    with pytest.raises(BakeError, match=r"helm template produced more than 100000 bytes"):
        HelmBinaryRenderer(str(helm), limits=limits)(tmp_path, [], {}, **HELM_OPTIONS)
    assert time.monotonic() - started < 10
    assert running_children() == []


# -- render time ---------------------------------------------------------------------------------------------


def test_an_endless_template_is_killed_at_the_time_limit(tmp_path: Path) -> None:
    chart = tiny_chart(tmp_path, "{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}")
    started = time.monotonic()
    with pytest.raises(BakeError, match=r"the Helm render did not finish within 2 s .*bake\.renderTimeoutSeconds"):
        HelmEngineRenderer(BakeLimits(render_timeout_s=2))(chart, [], {}, **HELM_OPTIONS)
    assert 2 <= time.monotonic() - started < 10
    assert running_children() == []  # killed and reaped: no core stays busy


def test_a_hanging_helm_binary_is_killed_with_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "sleeper.pid"
    helm = script(tmp_path / "helm", f"sleep 60 &\necho $! > {pid_file}\nwait\n")
    with pytest.raises(BakeError, match=r"helm template did not finish within 1 s"):
        HelmBinaryRenderer(str(helm), limits=BakeLimits(render_timeout_s=1))(tmp_path, [], {}, **HELM_OPTIONS)
    assert running_children() == []
    sleeper = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while not gone(sleeper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(sleeper)  # the whole process group was killed, not only helm


def test_the_kernel_stops_a_child_at_its_cpu_limit() -> None:
    """The engine child gets RLIMIT_CPU as a backstop: here a busy loop with a 1 s CPU limit and a long
    wall-clock budget is killed by the kernel, not by this process."""
    loop = [sys.executable, "-c", "while True: pass"]
    started = time.monotonic()
    done = run_limited(loop, what="loop", limits=BakeLimits(render_timeout_s=30), rlimits={resource.RLIMIT_CPU: 1})
    assert done.returncode == -signal.SIGKILL and time.monotonic() - started < 10


def test_a_render_over_the_memory_limit_fails(tmp_path: Path) -> None:
    doubled = '{{ $s := "x" }}{{ range until 30 }}{{ $s = printf "%s%s" $s $s }}{{ end }}kind: A\n'
    chart = tiny_chart(tmp_path, doubled)  # a string of 2^30 bytes
    limits = BakeLimits(max_render_memory_bytes=200 * 1024 * 1024)
    with pytest.raises(BakeError, match=r"the Helm render crashed .*bake\.maxRenderMemoryBytes"):
        HelmEngineRenderer(limits)(chart, [], {}, **HELM_OPTIONS)


# -- archives and inputs -------------------------------------------------------------------------------------


def test_an_oversized_input_is_refused_before_unpacking(tmp_path: Path) -> None:
    data = tarball({"overlays/prod/kustomization.yaml": b"resources: []\n", "padding": os.urandom(4096)})
    with pytest.raises(BakeError, match=r"input artifact git/repo .* is \d+ bytes, more than 1000 .*maxInputBytes"):
        bake(kustomize_request(), lambda artifact: data, limits=BakeLimits(max_input_bytes=1000))


def test_an_archive_unpacking_past_the_size_limit_is_refused(tmp_path: Path) -> None:
    data = tarball({"zeros": bytes(2 * 1024 * 1024)})
    assert len(data) < 10_000
    with pytest.raises(BakeError, match=r"unpacks to more than 1048576 bytes .*bake\.maxUnpackedBytes"):
        bake(kustomize_request(), lambda artifact: data, limits=BakeLimits(max_unpacked_bytes=1024 * 1024))
    with pytest.raises(BakeError, match=r"unpacks to more than"):
        extract_tarball(data, tmp_path / "out", what="x", limits=BakeLimits(max_unpacked_bytes=1024 * 1024))
    assert list((tmp_path / "out").iterdir()) == []  # checked before anything is written


def test_an_archive_with_too_many_entries_is_refused(tmp_path: Path) -> None:
    data = tarball({f"f{i}": b"" for i in range(50)})
    with pytest.raises(BakeError, match=r"holds more than 10 entries .*bake\.maxUnpackedFiles"):
        bake(kustomize_request(), lambda artifact: data, limits=BakeLimits(max_unpacked_files=10))


# -- values are data, never options --------------------------------------------------------------------------


def test_release_name_and_namespace_cannot_become_helm_options(tmp_path: Path) -> None:
    args_file = tmp_path / "args"
    helm = script(tmp_path / "helm", f'for a in "$@"; do echo "$a"; done > {args_file}\n')
    renderer = HelmBinaryRenderer(str(helm))
    for field in ("release_name", "namespace"):
        with pytest.raises(BakeError, match="must not start with '-'"):
            renderer(tmp_path, [], {}, **{**HELM_OPTIONS, field: INJECTION})
    assert not args_file.exists()  # refused before helm ran
    renderer(tmp_path, [], {INJECTION: "x", "a": INJECTION}, **{**HELM_OPTIONS, "api_versions": ["v1"]})
    args = args_file.read_text().splitlines()
    assert f"--set-string={INJECTION}=x" in args and f"--set-string=a={INJECTION}" in args
    assert not [a for a in args if a.startswith("--post-renderer")]
    assert args[-3:] == ["--", "shop", str(tmp_path)]


def test_the_engine_takes_them_as_data(tmp_path: Path) -> None:
    chart = write_chart(tmp_path)
    with pytest.raises(BakeError, match="invalid release name"):
        HelmEngineRenderer()(chart, [], {}, **{**HELM_OPTIONS, "release_name": INJECTION})
    output = HelmEngineRenderer()(chart, [], {}, **{**HELM_OPTIONS, "namespace": INJECTION})
    deployment = next(d for d in yaml.safe_load_all(output) if d and d["kind"] == "Deployment")
    assert deployment["metadata"]["namespace"] == INJECTION


def test_a_kustomize_path_cannot_become_a_kubectl_option(tmp_path: Path) -> None:
    root = write(tmp_path / "repo", BASE)
    with pytest.raises(BakeError, match="does not exist in the repository"):
        render_kustomize(root, "--enable-exec")


# -- kustomize remote bases ----------------------------------------------------------------------------------

REMOTE_ENTRIES = [
    ("resources", "resources:\n- https://github.com/org/repo//base?ref=v1\n"),
    ("resources", "resources:\n- github.com/org/repo/base?ref=v1\n"),
    ("bases", "bases:\n- git@github.com:org/repo.git//base\n"),
    ("components", "components:\n- ssh://git@git.example.com/org/repo.git//c\n"),
    ("resources", "resources:\n- git::https://git.example.com/org/repo//base\n"),
    ("resources", "resources:\n- file:///var/lib/repos/other.git//base\n"),
    (r"helmCharts\[0\]\.repo", "helmCharts:\n- {name: web, repo: 'https://charts.example.com'}\n"),
    (r"helmGlobals\.chartHome", "helmGlobals: {chartHome: 'https://charts.example.com/home'}\n"),
    (r"patches\[0\]\.path", "patches:\n- {path: 'https://example.com/patch.yaml'}\n"),
    (r"configMapGenerator\[0\]\.files", "configMapGenerator:\n- {name: c, files: ['k=http://example.com/f']}\n"),
]


@pytest.mark.parametrize(("field", "text"), REMOTE_ENTRIES)
def test_remote_kustomize_entries_are_refused_before_kubectl_runs(tmp_path: Path, field: str, text: str) -> None:
    marker = tmp_path / "kubectl-ran"
    kubectl = script(tmp_path / "kubectl", f"touch {marker}\n")
    root = write(tmp_path / "repo", {**BASE, "base/kustomization.yaml": "resources: [deployment.yaml]\n" + text})
    with pytest.raises(BakeError, match=rf"base/kustomization\.yaml: {field} entry .* is remote"):
        render_kustomize(root, "overlays/prod", kubectl=str(kubectl))  # the remote entry is in a base it reaches
    assert not marker.exists()


def test_kustomize_bases_outside_the_repository_are_refused(tmp_path: Path) -> None:
    for entry in ("/etc", "../../../outside"):
        root = write(tmp_path / "repo", {**BASE, "overlays/prod/kustomization.yaml": f"resources: ['{entry}']\n"})
        with pytest.raises(BakeError, match=r"overlays/prod/kustomization\.yaml: resources entry .* leaves"):
            render_kustomize(root, "overlays/prod", kubectl="/nonexistent/kubectl")


def test_inline_content_and_annotations_are_not_taken_for_remote_entries(tmp_path: Path) -> None:
    overlay = (
        "resources: [../../base]\n"
        "commonAnnotations: {docs: 'https://docs.example.com'}\n"
        "patches:\n- patch: |\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata: {name: web}\n"
    )
    root = write(tmp_path / "repo", {**BASE, "overlays/prod/kustomization.yaml": overlay})
    (deployment,) = yaml.safe_load_all(render_kustomize(root, "overlays/prod"))
    assert deployment["metadata"]["annotations"] == {"docs": "https://docs.example.com"}


def test_kubectl_runs_with_the_network_blocked_unless_remote_bases_are_allowed(tmp_path: Path) -> None:
    kubectl = script(tmp_path / "kubectl", "env\n")

    def environment(output: str) -> dict[str, str]:
        return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)

    blocked = environment(render_kustomize(write(tmp_path / "local", BASE), "base", kubectl=str(kubectl)))
    assert blocked["HTTPS_PROXY"] == blocked["HTTP_PROXY"] == blocked["ALL_PROXY"] == "http://127.0.0.1:9"
    assert blocked["NO_PROXY"] == "" and blocked["GIT_ALLOW_PROTOCOL"] == "none"
    remote = write(tmp_path / "remote", {**BASE, "base/kustomization.yaml": "resources: [github.com/org/repo/b]\n"})
    allowed = BakeLimits(allow_remote_bases=True)
    # The fake kubectl connects nowhere; it only shows that the build went ahead without the blocking variables.
    assert "GIT_ALLOW_PROTOCOL" not in environment(
        render_kustomize(remote, "base", kubectl=str(kubectl), limits=allowed)
    )
