"""`helm template`, in process through Helm's own Go engine (`helm_python`), or through a `helm` executable.

Both renderers take the same inputs as Rosco's Helm bake and give the same output shape: multi-document
YAML, each document headed by `# Source: <chart>/<path>`, CRDs first when asked for, then manifests in
Helm's install order, then hooks. Documents rendered from `templates/tests/` are dropped, as Rosco does.

Values precedence is Helm's: chart defaults < values files in order < overrides. Each override is its own
`--set` (types parsed, with `rawOverrides`) or `--set-string` expression, parsed by Helm's parser, so paths
like `ingress.hosts[0].host` and escaped dots work and commas inside values do not split them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from gennaker.bake.errors import BakeError

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


class HelmRenderer(Protocol):
    """What `bake()` needs from a Helm renderer (`render_helm` and `HelmBinaryRenderer` both fit)."""

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


def render_helm(
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
    """Render a chart (`.tgz` bytes, or a chart directory or archive path) like `helm template`."""
    release = release_name or DEFAULT_RELEASE_NAME
    try:
        _helm().validate_release_name(release)
        values = user_values(values_files, overrides, raw_overrides=raw_overrides)
        with _load(chart) as loaded:
            rendered = _render(loaded, values, release, namespace, api_versions, kube_version)
            crds = loaded.crds if include_crds else []
    except _helm().HelmError as exc:
        raise BakeError(str(exc)) from None
    return assemble(rendered, crds)


class HelmBinaryRenderer:
    """Runs `helm template` (Helm 3 or newer) for operators who want a specific Helm binary."""

    def __init__(self, executable: str = "helm", *, timeout_s: float = 120.0):
        self.executable = executable
        self.timeout_s = timeout_s

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
        with tempfile.TemporaryDirectory(prefix="gennaker-helm-") as tmp:
            work = Path(tmp)
            chart_path = chart if isinstance(chart, Path) else _write(work / "chart.tgz", chart)
            values_paths = [str(_write(work / f"values-{i}.yaml", data)) for i, data in enumerate(values_files)]
            command = [self.executable, "template", release_name or DEFAULT_RELEASE_NAME, str(chart_path)]
            command += ["--namespace", namespace] if namespace else []
            command += ["--include-crds"] if include_crds else []
            for version in api_versions:
                command += ["--api-versions", version]
            command += ["--kube-version", kube_version] if kube_version else []
            command += override_arguments(overrides, raw_overrides=raw_overrides)
            command += ["--values", ",".join(values_paths)] if values_paths else []
            output = self._run(command, work)
        return drop_test_documents(output)

    def _run(self, command: list[str], cwd: Path) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
        try:
            done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, timeout=self.timeout_s, check=False)
        except FileNotFoundError:
            raise BakeError(f"the helm executable {self.executable!r} was not found") from None
        except subprocess.TimeoutExpired:
            raise BakeError(f"helm template timed out after {self.timeout_s:g} s") from None
        if done.returncode != 0:
            raise BakeError(done.stderr.decode(errors="replace").strip() or f"helm exited with {done.returncode}")
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
    """`--set`/`--set-string`/`--set-json` arguments, one per override, for a `helm` command line."""
    arguments: list[str] = []
    for key, value in overrides.items():
        if isinstance(value, Mapping | list):
            arguments += ["--set-json", f"{key}={json.dumps(value)}"]
        else:
            arguments += ["--set" if raw_overrides else "--set-string", f"{key}={_escape(_text(value))}"]
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
