"""`gennaker account list` and `gennaker server-group …` against the emulator, on the local database."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gennaker.cli.main import app
from gennaker.providers.kubernetes.infrastructure import WATCH_TIMEOUT_S
from tests.emulators.kube import KubeEmulator
from tests.integration.kubernetes.conftest import accounts_config
from tests.integration.kubernetes.manifests import deployment
from tests.support import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def cli(tmp_path: Path, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    config = tmp_path / "gennaker.yaml"
    config.write_text(yaml.safe_dump(accounts_config(kubeconfig)))
    monkeypatch.setenv("GENNAKER_CONFIG", str(config))
    monkeypatch.setenv("GENNAKER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENNAKER_CONFIG_DIR", str(tmp_path / "session"))
    monkeypatch.setenv("GENNAKER_USER", "alice")
    for name in ("GENNAKER_URL", "GENNAKER_TOKEN", "GENNAKER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def gennaker(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_accounts_are_listed_without_secrets(
    cli: CliRunner, kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inline = {"name": "inline", "kubeconfigContents": kubeconfig.read_text()}  # carries the emulator's token
    config = accounts_config(kubeconfig)
    config["providers"]["kubernetes"]["accounts"].append(inline)
    (tmp_path / "gennaker.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("GENNAKER_CONFIG", str(tmp_path / "gennaker.yaml"))
    as_json, as_table = gennaker(cli, "account", "list", "-o", "json"), gennaker(cli, "account", "list")
    assert [a["name"] for a in json.loads(as_json)] == ["emu", "narrow", "inline"]
    for listed in (as_json, as_table):
        assert KubeEmulator.TOKEN not in listed and "kubeconfig" not in listed.lower() and str(kubeconfig) not in listed


def test_server_group_actions(cli: CliRunner, kube: KubeEmulator) -> None:
    running_before = set(threading.enumerate())
    web = deployment(config=None)
    web["metadata"].update(
        namespace="default",
        annotations={"moniker.spinnaker.io/application": "shop", "moniker.spinnaker.io/cluster": "deployment web"},
    )
    kube.put_object(web)
    gennaker(cli, "server-group", "scale", "shop", "deployment/web", "--replicas", "3", "--account", "emu")
    assert kube.get_object("apps/v1", "Deployment", "default", "web")["spec"]["replicas"] == 3

    def listed() -> list[dict[str, object]]:
        groups = json.loads(gennaker(cli, "server-group", "list", "shop", "-o", "json"))
        return [g for g in groups if g["instanceCounts"] == {"total": 3, "up": 3, "down": 0, "unknown": 0}]

    assert wait_for(listed, what="three pods up")[0]["cluster"] == "deployment web"
    refused = cli.invoke(app, ["server-group", "scale", "shop", "deployment/web", "--replicas", "1", "-a", "nope"])
    assert refused.exit_code == 1 and "unknown Kubernetes account 'nope'" in refused.stderr
    gennaker(cli, "server-group", "delete", "shop", "deployment/web", "--account", "emu")
    assert kube.get_object("apps/v1", "Deployment", "default", "web") is None

    def watches_left() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith("watch-") and t not in running_before]

    # Each command closes what it opened: the account watches `list` started are told to stop, and end when
    # their current watch request does (the server ends each within WATCH_TIMEOUT_S).
    wait_for(lambda: not watches_left(), WATCH_TIMEOUT_S + 15, "the commands' account watches to stop")


def test_server_group_edit_deploys_the_edited_manifest(cli: CliRunner, kube: KubeEmulator, tmp_path: Path) -> None:
    web = deployment(config=None)
    web["metadata"]["namespace"] = "default"
    edited = tmp_path / "web.yaml"
    edited.write_text(yaml.safe_dump({**web, "spec": {**web["spec"], "replicas": 1}}))
    gennaker(cli, "server-group", "edit", "shop", "deployment/web", "-a", "emu", "-f", str(edited))
    live = kube.get_object("apps/v1", "Deployment", "default", "web")
    assert (
        live["spec"]["replicas"] == 1 and live["metadata"]["annotations"]["moniker.spinnaker.io/application"] == "shop"
    )
    wrong = cli.invoke(app, ["server-group", "edit", "shop", "deployment/other", "-a", "emu", "-f", str(edited)])
    assert wrong.exit_code == 1 and "must hold deployment other" in wrong.stderr
