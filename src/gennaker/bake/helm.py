"""`helm template`, in process through Helm's own Go engine (`helm_python`), or through a `helm` executable.

Both renderers take the same inputs as Rosco's Helm bake and give the same output shape: multi-document
YAML, each document headed by `# Source: <chart>/<path>`, CRDs first when asked for, then manifests in
Helm's install order, then hooks. Documents rendered from `templates/tests/` are dropped, as Rosco does.

Values precedence is Helm's: chart defaults < values files in order < overrides. Each override is its own
`--set` (types parsed, with `rawOverrides`) or `--set-string` expression, parsed by Helm's parser, so paths
like `ingress.hosts[0].host` and escaped dots work and commas inside values do not split them.

Both renderers run in a child process under the bake limits (`gennaker.bake.process`): a render inside Helm's
Go engine cannot be interrupted, so the engine runs in `python -m gennaker.bake.helm_child`, which is killed
at the time limit or when its output passes the size limit.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import resource
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

import gennaker
from gennaker.bake.errors import BakeError
from gennaker.bake.limits import DEFAULT_LIMITS, BakeLimits
from gennaker.bake.process import Finished, output_too_large, run_limited

if TYPE_CHECKING:
    import helm_python


def _helm() -> Any:
    """Helm's Go engine, loaded on the first bake: it costs about 40 MB, which a server that never bakes keeps."""
    import helm_python

    return helm_python


DEFAULT_RELEASE_NAME = "release-name"
# Helm's install order (pkg/release/util/kind_sorter.go); unknown kinds follow, alphabetically.
INSTALL_ORDER = (
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
)
_RANK = {kind: index for index, kind in enumerate(INSTALL_ORDER)}
_DOC_SEPARATOR = re.compile(r"(?m)^---[ \t]*(?:#.*)?$")
_SOURCE_LINE = re.compile(r"(?m)^# Source: (.*)$")
_SENTINEL = "gennaker-override-path-7c1f"
BAKE_ERROR_STATUS = 3  # the Helm child's exit status for a BakeError, whose message is its stderr
_CHILD_ENV = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "LD_LIBRARY_PATH")


class HelmRenderer(Protocol):
    """What `bake()` needs from a Helm renderer (`render_helm`, `HelmEngineRenderer` and `HelmBinaryRenderer` fit)."""

    def __call__(
        self,
        chart: bytes | Path,
        values_files: Sequence[bytes],
        overrides: Mapping[str, Any],
        *,
        raw_overrides: bool,
        release_name: str,
        namespace: str | None,
        include_crds: bool,
        api_versions: Sequence[str],
        kube_version: str | None,
    ) -> str: ...


class HelmEngineRenderer:
    """Helm's Go engine (`helm_python`) in a child process, its memory (RLIMIT_DATA) and CPU time capped."""

    what = "the Helm render"

    def __init__(self, limits: BakeLimits = DEFAULT_LIMITS):
        self.limits = limits

    def __call__(
        self,
        chart: bytes | Path,
        values_files: Sequence[bytes],
        overrides: Mapping[str, Any],
        *,
        raw_overrides: bool,
        release_name: str,
        namespace: str | None,
        include_crds: bool,
        api_versions: Sequence[str],
        kube_version: str | None,
    ) -> str:
        request = {
            "chart": str(chart) if isinstance(chart, Path) else None,
            "archive": None if isinstance(chart, Path) else base64.b64encode(chart).decode(),
            "values_files": [base64.b64encode(data).decode() for data in values_files],
            "overrides": dict(overrides),
            "raw_overrides": raw_overrides,
            "release_name": release_name,
            "namespace": namespace,
            "include_crds": include_crds,
            "api_versions": list(api_versions),
            "kube_version": kube_version,
            "max_output_bytes": self.limits.max_output_bytes,
        }
        done = run_limited(
            [sys.executable, "-P", "-m", "gennaker.bake.helm_child"],
            what=self.what,
            limits=self.limits,
            stdin=json.dumps(request, default=str).encode(),
            env=_child_env(),
            rlimits={
                resource.RLIMIT_DATA: self.limits.max_render_memory_bytes,
                # A backstop should this process die mid-render: the kernel kills the child after this much CPU
                # time, later than the time limit would even on both the cores GOMAXPROCS gives it.
                resource.RLIMIT_CPU: math.ceil(3 * self.limits.render_timeout_s) + 1,
            },
        )
        if done.returncode == 0:
            return done.stdout.decode()
        raise BakeError(self._failure(done))

    def _failure(self, done: Finished) -> str:
        """A BakeError's message, or why the child crashed: most often, it ran out of memory."""
        text = done.stderr.strip()
        if done.returncode == BAKE_ERROR_STATUS and text:
            return text
        lines = text.splitlines()
        if lines:  # a Python traceback ends with its error, a Go fatal error starts with it
            reason = lines[-1] if done.returncode == 1 else lines[0]
        elif done.returncode < 0:
            reason = f"killed by signal {-done.returncode}"
        else:
            reason = f"exit status {done.returncode}"
        return (
            f"{self.what} crashed ({reason}); it may have used more than {self.limits.max_render_memory_bytes} "
            "bytes of memory (limit: bake.maxRenderMemoryBytes)"
        )


# Render a chart (`.tgz` bytes, or a chart directory or archive path) like `helm template`, with Helm's engine
# in a child process under the default limits (`HelmEngineRenderer(limits)` for others).
render_helm: HelmRenderer = HelmEngineRenderer()


def render_request(data: bytes) -> str:
    """The child's half of `HelmEngineRenderer`: render the JSON request it was sent, in this process."""
    request = json.loads(data)
    chart: bytes | Path = Path(request["chart"]) if request["chart"] else base64.b64decode(request["archive"])
    release = request["release_name"] or DEFAULT_RELEASE_NAME
    try:
        _helm().validate_release_name(release)
        values_files = [base64.b64decode(item) for item in request["values_files"]]
        values = user_values(values_files, request["overrides"], raw_overrides=request["raw_overrides"])
        with _load(chart) as loaded:
            rendered = _render(
                loaded, values, release, request["namespace"], request["api_versions"], request["kube_version"]
            )
            crds = loaded.crds if request["include_crds"] else []
    except _helm().HelmError as exc:
        raise BakeError(str(exc)) from None
    # Checked before parsing each document, which would take longer than rendering them.
    if sum(len(text) for text in rendered.values()) > request["max_output_bytes"]:
        raise BakeError(output_too_large(HelmEngineRenderer.what, request["max_output_bytes"]))
    return assemble(rendered, crds)


class HelmBinaryRenderer:
    """Runs `helm template` (Helm 3 or newer) for operators who want a specific Helm binary.

    Values are passed as `--flag=value` and the release and chart after `--`, so no value can be read as an
    option (`--post-renderer=…` as a namespace stays a namespace)."""

    what = "helm template"

    def __init__(self, executable: str = "helm", *, limits: BakeLimits = DEFAULT_LIMITS):
        self.executable = executable
        self.limits = limits

    def __call__(
        self,
        chart: bytes | Path,
        values_files: Sequence[bytes],
        overrides: Mapping[str, Any],
        *,
        raw_overrides: bool,
        release_name: str,
        namespace: str | None,
        include_crds: bool,
        api_versions: Sequence[str],
        kube_version: str | None,
    ) -> str:
        release = _not_an_option(release_name or DEFAULT_RELEASE_NAME, "release name")
        with tempfile.TemporaryDirectory(prefix="gennaker-helm-") as tmp:
            work = Path(tmp)
            chart_path = chart if isinstance(chart, Path) else _write(work / "chart.tgz", chart)
            values_paths = [str(_write(work / f"values-{i}.yaml", data)) for i, data in enumerate(values_files)]
            command = [self.executable, "template"]
            command += [f"--namespace={_not_an_option(namespace, 'namespace')}"] if namespace else []
            command += ["--include-crds"] if include_crds else []
            command += [f"--api-versions={_not_an_option(v, 'API version')}" for v in api_versions]
            command += [f"--kube-version={_not_an_option(kube_version, 'Kubernetes version')}"] if kube_version else []
            command += override_arguments(overrides, raw_overrides=raw_overrides)
            command += [f"--values={','.join(values_paths)}"] if values_paths else []
            command += ["--", release, str(chart_path)]
            output = self._run(command, work)
        return drop_test_documents(output)

    def _run(self, command: list[str], cwd: Path) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
        done = run_limited(command, what=self.what, limits=self.limits, cwd=cwd, env=env)
        if done.returncode != 0:
            raise BakeError(done.stderr.strip() or f"helm exited with {done.returncode}")
        return done.stdout.decode()


def user_values(values_files: Sequence[bytes], overrides: Mapping[str, Any], *, raw_overrides: bool) -> dict[str, Any]:
    """The values Helm would pass to the chart: values files merged in order, then each override set."""
    values: dict[str, Any] = {}
    for index, data in enumerate(values_files):
        try:
            document = _helm().values_from_yaml(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, _helm().HelmError) as exc:
            raise BakeError(f"values file {index + 1} is not valid YAML: {exc}") from None
        values = _merge_maps(values, document)
    for key, value in overrides.items():
        path = _override_path(str(key))
        values = _assign(values, path, _override_value(value, raw=raw_overrides))
    return values


def override_arguments(overrides: Mapping[str, Any], *, raw_overrides: bool) -> list[str]:
    """`--set=`/`--set-string=`/`--set-json=` arguments, one per override, for a `helm` command line."""
    arguments: list[str] = []
    for key, value in overrides.items():
        if isinstance(value, Mapping | list):
            arguments.append(f"--set-json={key}={json.dumps(value)}")
        else:
            flag = "--set" if raw_overrides else "--set-string"
            arguments.append(f"{flag}={key}={_escape(_text(value))}")
    return arguments


def assemble(rendered: Mapping[str, str], crds: Sequence[Mapping[str, str]]) -> str:
    """`helm template`'s output from rendered templates: CRDs, then manifests by install order, then hooks."""
    parts = [f"---\n# Source: {crd['filename']}\n{crd['data'].rstrip()}\n" for crd in crds]
    manifests: list[tuple[str, str, str]] = []
    hooks: list[tuple[str, str, str]] = []
    for path in sorted(rendered, key=lambda p: p.encode()):
        if path.endswith("NOTES.txt") or os.path.basename(path).startswith("_") or _is_test(path):
            continue
        for document in _DOC_SEPARATOR.split(rendered[path]):
            text = document.strip()
            if not text:
                continue
            head = _head(path, text)
            if head is None:
                continue
            kind, is_hook = head
            (hooks if is_hook else manifests).append((kind, path, text))
    for kind, path, text in [*_by_kind(manifests), *_by_kind(hooks)]:
        del kind
        parts.append(f"---\n# Source: {path}\n{text}\n")
    return "".join(parts)


def drop_test_documents(output: str) -> str:
    """`helm template` output without the documents whose `# Source:` is under `templates/tests/`."""
    kept = []
    for document in _DOC_SEPARATOR.split(output):
        source = _SOURCE_LINE.search(document)
        if document.strip() and not (source and _is_test(source.group(1))):
            kept.append("---\n" + document.strip("\n") + "\n")
    return "".join(kept)


def _not_an_option(value: str, what: str) -> str:
    if value.startswith("-"):
        raise BakeError(f"the {what} {value!r} must not start with '-'")
    return value


def _child_env() -> dict[str, str]:
    """The engine child's environment: not the server's (whose variables may hold secrets), only what Python
    needs, the path of this same Gennaker, and GOMAXPROCS, which bounds the cores a render uses and the Go
    threads whose stacks count against the memory limit."""
    source = os.path.dirname(os.path.dirname(gennaker.__file__))
    env = {name: os.environ[name] for name in _CHILD_ENV if name in os.environ}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    return {**env, "GOMAXPROCS": "2"}


def _load(chart: bytes | Path) -> helm_python.Chart:
    if isinstance(chart, Path):
        return _helm().Chart.load(chart)
    return _helm().Chart.load_archive(chart)


def _render(
    chart: helm_python.Chart,
    values: Mapping[str, Any],
    release: str,
    namespace: str | None,
    api_versions: Sequence[str],
    kube_version: str | None,
) -> dict[str, str]:
    """`Chart.render` plus the capabilities options (`kube_version`, `api_versions`) that Helm's render
    accepts but the Python wrapper does not expose yet."""
    options: dict[str, Any] = {"name": release, "is_install": True, "revision": 1}
    if namespace:
        options["namespace"] = namespace
    if api_versions:
        options["api_versions"] = list(api_versions)
    if kube_version:
        options["kube_version"] = kube_version
    raw = _helm()._native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(options))
    rendered: dict[str, str] = json.loads(raw)
    return rendered


def _head(path: str, text: str) -> tuple[str, bool] | None:
    """(kind, is a hook) of a rendered document, or None when it holds no object (only comments)."""
    try:
        document = yaml.load(text, Loader=_HeadLoader)
    except yaml.YAMLError as exc:
        raise BakeError(f"YAML parse error on {path}: {exc}") from None
    if document is None:
        return None
    if not isinstance(document, Mapping):
        raise BakeError(f"YAML parse error on {path}: a manifest must be a mapping")
    metadata = document.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    is_hook = isinstance(annotations, Mapping) and "helm.sh/hook" in annotations
    return str(document.get("kind") or ""), is_hook


def _by_kind(documents: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return sorted(documents, key=lambda d: (_RANK.get(d[0], len(_RANK)), "" if d[0] in _RANK else d[0]))


def _is_test(path: str) -> bool:
    return "/templates/tests/" in f"/{path}"


def _merge_maps(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's merge of values files: maps merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in update.items():
        old = merged.get(key)
        merged[key] = _merge_maps(old, value) if isinstance(old, Mapping) and isinstance(value, Mapping) else value
    return merged


def _override_path(key: str) -> list[str | int]:
    """The key's path (`a.b[0].c` → ["a", "b", 0, "c"]), parsed by Helm so its escapes and limits apply."""
    try:
        node: Any = _helm().parse_set_string_values(f"{key}={_SENTINEL}")
    except _helm().HelmError as exc:
        raise BakeError(f"invalid override key {key!r}: {exc}") from None
    path: list[str | int] = []
    while node != _SENTINEL:
        if isinstance(node, Mapping) and len(node) == 1:
            name, node = next(iter(node.items()))
            path.append(name)
        elif isinstance(node, list) and node:
            path.append(len(node) - 1)
            node = node[-1]
        else:
            raise BakeError(f"invalid override key {key!r}")
    return path


def _override_value(value: Any, *, raw: bool) -> Any:
    """The override's value as Helm's `--set` (raw) or `--set-string` would parse it; structures pass as-is."""
    if isinstance(value, Mapping | list):
        return value
    parse: Callable[[str], dict[str, Any]] = _helm().parse_set_string if raw else _helm().parse_set_string_values
    try:
        return parse(f"v={_escape(_text(value))}")["v"]
    except _helm().HelmError as exc:
        raise BakeError(f"invalid override value {value!r}: {exc}") from None


def _assign(node: Any, path: Sequence[str | int], leaf: Any) -> Any:
    """Set `leaf` at `path` like Helm's `strvals.ParseInto`: existing maps and list items are kept and
    merged into, lists grow with nulls, and a mismatched node is replaced."""
    if not path:
        return leaf
    step, rest = path[0], path[1:]
    if isinstance(step, str):
        mapping = dict(node) if isinstance(node, Mapping) else {}
        mapping[step] = _assign(mapping.get(step), rest, leaf)
        return mapping
    items = list(node) if isinstance(node, list) else []
    items.extend([None] * (step + 1 - len(items)))
    items[step] = _assign(items[step], rest, leaf)
    return items


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def _escape(value: str) -> str:
    """Escape a value for Helm's set parser: backslashes and commas, except for the `{a,b}` list syntax."""
    if value.startswith("{") and value.endswith("}"):
        return value
    return value.replace("\\", "\\\\").replace(",", "\\,")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


class _HeadLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe loader that ignores unknown tags, as Helm's YAML library does."""


_HeadLoader.add_multi_constructor("!", lambda loader, suffix, node: None)
