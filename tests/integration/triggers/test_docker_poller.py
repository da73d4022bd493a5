"""Docker triggers against a real registry (CNCF Distribution, Debian's `docker-registry`) on 127.0.0.1:
first poll silent, new tags and re-pushed tags fire, Echo's matching, pagination and the catalog, Basic and
token authentication with credentials kept to their hosts, failures logged once per incident, and a pushed
image deployed end to end through the scheduler."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Connection

from gennaker.artifacts.fetchers.guard import OutboundPolicy, public_only_guard
from gennaker.runtime import Runtime
from gennaker.triggers.docker.accounts import DockerConfigError, DockerRegistryAccount, docker_registry_accounts
from gennaker.triggers.docker.poller import DockerPoller
from gennaker.triggers.docker.registry_client import RegistryClient, RegistryError
from gennaker.triggers.pollers import pollers_from_config
from gennaker.triggers.scheduler import PolledEvent, Scheduler, SchedulerSettings
from tests.emulators.kube import KubeEmulator
from tests.integration.kubernetes.conftest import accounts_config
from tests.integration.kubernetes.manifests import deploy_stage, deployment
from tests.integration.triggers import registry as real_registry
from tests.integration.triggers.conftest import LOOPBACK, USERS
from tests.integration.triggers.registry import OCI_MANIFEST, DockerRegistry, FaultProxy, TokenServer
from tests.support import make_runtime, pipeline, wait_status

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not real_registry.available(), reason="docker-registry is not installed (make system-packages)"),
]
GUARD = public_only_guard(OutboundPolicy.from_config(LOOPBACK["outbound"]))
PASSWORD = USERS["ci"]


def make_account(address: str, **extra: Any) -> DockerRegistryAccount:
    return DockerRegistryAccount.model_validate({"name": "local", "address": address, **extra})


def make_poller(address: str, repository: str = "shop/web", **extra: Any) -> DockerPoller:
    account = make_account(address, **extra)
    return DockerPoller(account, repository, RegistryClient(account, GUARD))


def docker_trigger(**keys: Any) -> dict[str, Any]:
    return {"type": "docker", "enabled": True, "account": "local", "repository": "shop/web", **keys}


# -- what fires ------------------------------------------------------------------------------------------
def test_first_poll_records_what_exists_then_a_new_tag_fires_once(registry: DockerRegistry) -> None:
    first_digest = registry.push("shop/web", "1.0", b"one")
    poller = make_poller(registry.url)
    assert poller.key == "docker:local/shop/web" and poller.trigger_type == "docker"
    events, state = poller.poll(None)
    assert events == []
    assert state == {"tags": {"1.0": first_digest}}

    digest = registry.push("shop/web", "1.1", b"one-one")
    events, state = poller.poll(state)
    assert events == [
        PolledEvent(
            f"docker:local/shop/web:1.1:{digest}",
            {
                "account": "local",
                "registry": registry.address,
                "repository": "shop/web",
                "tag": "1.1",
                "digest": digest,
            },
        )
    ]
    again, state = poller.poll(state)
    assert again == []
    assert state["tags"] == {"1.0": first_digest, "1.1": digest}


def test_a_tag_pushed_again_with_new_content_fires_a_digest_event(registry: DockerRegistry) -> None:
    old = registry.push("shop/web", "stable", b"v1")
    poller = make_poller(registry.url)
    _, state = poller.poll(None)
    new = registry.push("shop/web", "stable", b"v2", media_type=OCI_MANIFEST)
    [event], state = poller.poll(state)
    assert event.key == f"docker:local/shop/web:stable:{new}"
    assert event.payload["digest"] == new and event.payload["previousDigest"] == old
    registry.push("shop/web", "stable", b"v2", media_type=OCI_MANIFEST)  # the same content again: no change
    assert poller.poll(state)[0] == []


def test_without_digest_tracking_only_new_tags_fire(registry: DockerRegistry) -> None:
    registry.push("shop/web", "stable", b"v1")
    poller = make_poller(registry.url, trackDigests=False)
    _, state = poller.poll(None)
    assert state == {"tags": {"stable": None}}  # the first poll reads no manifest
    registry.push("shop/web", "stable", b"v2")
    assert poller.poll(state)[0] == []
    digest = registry.push("shop/web", "2.0", b"v3")
    [event], _ = poller.poll(state)
    assert (event.payload["tag"], event.payload["digest"]) == ("2.0", digest)


def test_tags_are_read_across_pages_and_the_catalog_lists_repositories(registry: DockerRegistry) -> None:
    tags = [f"1.{n}" for n in range(7)]
    for tag in tags:
        registry.push("shop/web", tag, b"same")
    registry.push("shop/api", "1.0", b"api")
    account = make_account(registry.url, paginateSize=2)
    client = RegistryClient(account, GUARD)
    assert sorted(client.tags("shop/web")) == sorted(tags)
    assert sorted(client.catalog()) == ["shop/api", "shop/web"]
    assert sorted(client.repositories()) == ["shop/api", "shop/web"]  # none configured: the catalog
    configured = RegistryClient(make_account(registry.url, repositories=["shop/api"]), GUARD)
    assert configured.repositories() == ["shop/api"]


def test_echo_matching_and_the_execution_trigger(registry: DockerRegistry) -> None:
    registry.push("shop/web", "0.9", b"zero")
    poller = make_poller(registry.url)
    _, state = poller.poll(None)
    digests = {tag: registry.push("shop/web", tag, tag.encode()) for tag in ("1.2", "1.2-rc1", "latest", "2.0")}
    events = {e.payload["tag"]: e for e in poller.poll(state)[0]}
    assert sorted(events) == ["1.2", "1.2-rc1", "2.0", "latest"]

    def fires(trigger: dict[str, Any]) -> list[str]:
        return sorted(tag for tag, event in events.items() if poller.matches(trigger, event))

    assert fires(docker_trigger(tag="1\\.\\d+")) == ["1.2"]  # a full match: 1.2-rc1 does not match
    assert fires(docker_trigger(tag=" 1\\..* ")) == ["1.2", "1.2-rc1"]  # the pattern is trimmed
    assert fires(docker_trigger()) == ["1.2", "1.2-rc1", "2.0"]  # no tag: anything but latest
    assert fires(docker_trigger(tag="latest")) == ["latest"]
    assert fires(docker_trigger(tag="1.[")) == []  # an invalid regex matches nothing
    assert fires(docker_trigger(account="other")) == []
    assert fires(docker_trigger(repository="shop/api")) == []
    assert fires(docker_trigger(registry="elsewhere.example", organization="x")) == ["1.2", "1.2-rc1", "2.0"]
    assert fires({"type": "docker", "account": "local", "tag": ".*"}) == []  # a trigger needs its repository

    saved = docker_trigger(tag="1\\..*", id="t1", expectedArtifactIds=["image"], runAsUser="deployer")
    trigger = poller.runtime_trigger(saved, events["1.2"])
    image = f"{registry.address}/shop/web"
    assert trigger["type"] == "docker" and trigger["id"] == "t1" and trigger["runAsUser"] == "deployer"
    assert (trigger["tag"], trigger["digest"], trigger["registry"]) == ("1.2", digests["1.2"], registry.address)
    assert trigger["expectedArtifactIds"] == ["image"] and trigger["eventId"]
    assert trigger["artifacts"] == [
        {
            "type": "docker/image",
            "name": image,
            "version": "1.2",
            "reference": f"{image}:1.2",
            "metadata": {"registry": registry.address, "digest": digests["1.2"]},
        }
    ]


# -- authentication ----------------------------------------------------------------------------------------
def test_basic_authentication(basic_registry: DockerRegistry, caplog: pytest.LogCaptureFixture) -> None:
    digest = basic_registry.push("shop/web", "1.0", b"private")
    good = make_poller(basic_registry.url, username="ci", password=PASSWORD)
    _, state = good.poll(None)
    assert state == {"tags": {"1.0": digest}}

    caplog.set_level(logging.DEBUG, logger="gennaker")
    wrong = make_poller(basic_registry.url, username="ci", password="not-the-password")
    assert wrong.poll(None) == ([], {})
    assert "HTTP 401: the registry refused the credentials of user ci" in str(wrong.incidents.message)
    anonymous = make_poller(basic_registry.url)
    anonymous.poll(None)
    assert "HTTP 401: the registry needs credentials (username and password)" in str(anonymous.incidents.message)
    assert PASSWORD not in caplog.text and "not-the-password" not in caplog.text


def test_a_password_file(basic_registry: DockerRegistry, tmp_path: Path) -> None:
    basic_registry.push("shop/web", "1.0", b"private")
    secret = tmp_path / "registry-password"
    secret.write_text(PASSWORD + "\n")
    poller = make_poller(basic_registry.url, username="ci", passwordFile=str(secret))
    assert PASSWORD not in repr(poller.account)
    assert list(poller.poll(None)[1]["tags"]) == ["1.0"]


def test_bearer_tokens_from_the_registrys_realm(token_registry: DockerRegistry, token_server: TokenServer) -> None:
    digest = token_registry.push("shop/web", "1.0", b"tokens")
    poller = make_poller(token_registry.url, username="ci", password=PASSWORD)
    _, state = poller.poll(None)
    assert state == {"tags": {"1.0": digest}}
    [request] = token_server.requests  # one token served the tag list and the manifest
    assert request["user"] == "ci"
    assert request["query"] == {"service": ["gennaker-test-registry"], "scope": ["repository:shop/web:pull"]}
    token_registry.push("shop/web", "1.1", b"more")
    [event], _ = poller.poll(state)
    assert event.payload["tag"] == "1.1"
    assert len(token_server.requests) == 1  # the token is cached until it expires

    anonymous = make_poller(token_registry.url)
    assert anonymous.poll(None) == ([], {})
    assert "the token service http://127.0.0.1:" in str(anonymous.incidents.message)
    assert "answered HTTP 401" in str(anonymous.incidents.message)


def test_credentials_go_to_a_token_service_on_another_host_only_when_listed(tmp_path: Path) -> None:
    """The registry names a realm on `localhost`, another host than the registry's 127.0.0.1."""
    policy = OutboundPolicy.from_config({"allowNetworks": ["127.0.0.0/8"], "allowHosts": ["localhost"]})
    guard = public_only_guard(policy)
    (tmp_path / "realm").mkdir()
    (tmp_path / "other").mkdir()
    with (
        TokenServer(tmp_path / "realm", USERS, host="localhost") as tokens,
        DockerRegistry(tmp_path / "other", token=tokens) as other,
    ):
        other.push("shop/web", "1.0", b"elsewhere")
        unlisted = make_account(other.url, username="ci", password=PASSWORD)
        with pytest.raises(RegistryError) as refused:
            RegistryClient(unlisted, guard).tags("shop/web")
        assert tokens.requests[-1]["authorization"] is None  # the credentials were not sent
        assert f"the token service http://localhost:{tokens.port}/token answered HTTP 401" in str(refused.value)
        assert "list it in tokenHosts" in str(refused.value)

        listed = make_account(
            other.url, username="ci", password=PASSWORD, tokenHosts=[f"http://localhost:{tokens.port}"]
        )
        assert RegistryClient(listed, guard).tags("shop/web") == ["1.0"]
        assert tokens.requests[-1]["user"] == "ci"
        with pytest.raises(RegistryError, match="localhost is an internal host name"):
            RegistryClient(listed, GUARD).tags("shop/web")  # the outbound guard applies to the realm too


def test_the_outbound_guard_refuses_a_private_registry_unless_allowed(registry: DockerRegistry) -> None:
    digest = registry.push("shop/web", "1.0", b"x")
    config = {"providers": {"dockerRegistry": {"accounts": [{"name": "local", "address": registry.url}]}}}
    pipelines = [pipeline("p", [], triggers=[docker_trigger()]) | {"id": "p1"}]
    [refused] = pollers_from_config(config, pipelines)
    assert isinstance(refused, DockerPoller)
    assert refused.poll(None) == ([], {})
    assert "127.0.0.1 is the non-public address 127.0.0.1" in str(refused.incidents.message)
    [allowed] = pollers_from_config({**config, **LOOPBACK}, pipelines)
    assert allowed.poll(None)[1] == {"tags": {"1.0": digest}}


# -- failures ------------------------------------------------------------------------------------------------
def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The docker poller's warnings (other threads of the process may log their own meanwhile)."""
    return [
        r.getMessage() for r in caplog.records if r.name == "gennaker.triggers.docker" and r.levelno >= logging.WARNING
    ]


def test_failures_are_clear_and_logged_once_per_incident(
    registry: DockerRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gennaker")
    registry.push("shop/web", "1.0", b"one")
    with FaultProxy(registry.url) as proxy:
        poller = make_poller(proxy.url, clientTimeoutMillis=300)
        _, state = poller.poll(None)

        proxy.mode = "status"
        for _ in range(4):
            assert poller.poll(state) == ([], state)  # nothing fires, nothing is forgotten
        [warning] = warnings_of(caplog)
        assert "docker poller local/shop/web" in warning
        assert f"docker registry account local ({proxy.url}): GET /v2/shop/web/tags/list?n=100 returned HTTP 500" in (
            warning
        )

        proxy.mode = "hang"
        for _ in range(2):
            assert poller.poll(state) == ([], state)
        assert len(warnings_of(caplog)) == 2  # a new kind of failure is a new incident
        assert "GET /v2/shop/web/tags/list?n=100: no answer within 0.3s" in warnings_of(caplog)[1]

        proxy.mode = "status"
        proxy.status = 401
        poller.poll(state)
        assert "HTTP 401 without a WWW-Authenticate challenge" in warnings_of(caplog)[2]

        digest = registry.push("shop/web", "1.1", b"pushed during the outage")
        proxy.mode = "pass"
        [event], state = poller.poll(state)
        assert (event.payload["tag"], event.payload["digest"]) == ("1.1", digest)
        assert any("recovered" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)
        assert not poller.incidents.failing
        assert len(warnings_of(caplog)) == 3


def test_manifests_that_cannot_be_read_fire_nothing_and_are_read_again(
    registry: DockerRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    registry.push("shop/web", "1.0", b"one")
    with FaultProxy(registry.url) as proxy:
        poller = make_poller(proxy.url)
        _, state = poller.poll(None)
        digest = registry.push("shop/web", "1.1", b"new")
        proxy.mode, proxy.status, proxy.only = "status", 503, "/manifests/"
        assert poller.poll(state) == ([], state)  # every digest failed: an incident, the state is kept
        assert re.search(r"HEAD /v2/shop/web/manifests/1\.[01] returned HTTP 503$", str(poller.incidents.message))
        proxy.only = "/manifests/1.0"
        [event], partial = poller.poll(state)  # only the known tag's manifest fails: the new tag still fires
        assert (event.payload["tag"], event.payload["digest"]) == ("1.1", digest)
        assert partial["tags"]["1.0"] == state["tags"]["1.0"]
        assert "the digests of 1 of 2 tags could not be read this time" in str(poller.incidents.message)
        proxy.mode = "pass"
        assert poller.poll(partial) == ([], partial)
        assert not poller.incidents.failing


def test_an_unknown_repository_and_an_unreachable_registry(registry: DockerRegistry) -> None:
    missing = make_poller(registry.url, repository="shop/nothing")
    assert missing.poll(None) == ([], {})
    assert "GET /v2/shop/nothing/tags/list?n=100 returned HTTP 404: the tags of shop/nothing not found" in str(
        missing.incidents.message
    )
    closed = make_poller(f"http://127.0.0.1:{real_registry.free_port()}")
    assert closed.poll({"tags": {"1.0": "sha256:abc"}}) == ([], {"tags": {"1.0": "sha256:abc"}})
    assert "cannot connect: ConnectError" in str(closed.incidents.message)


def test_a_first_poll_that_fails_still_fires_nothing_once_it_works(registry: DockerRegistry) -> None:
    registry.push("shop/web", "1.0", b"one")
    with FaultProxy(registry.url) as proxy:
        poller = make_poller(proxy.url)
        proxy.mode = "status"
        events, state = poller.poll(None)
        assert (events, state) == ([], {})
        proxy.mode = "pass"
        events, state = poller.poll(state)  # the stored state holds no tags yet: this is still the first poll
        assert events == [] and list(state["tags"]) == ["1.0"]


# -- configuration ---------------------------------------------------------------------------------------------
def test_accounts_from_the_configuration_file(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    section = {
        "enabled": True,
        "accounts": [
            {
                "name": "hub",
                "address": "index.docker.io/v2/",
                "username": "me",
                "passwordFile": str(secret),
                "email": "me@example.com",
                "repositories": ["library/nginx"],
                "cacheIntervalSeconds": 45,
                "permissions": {"READ": ["dev"]},  # halconfig keys Gennaker does not act on are accepted
            }
        ],
    }
    [hub] = docker_registry_accounts({"providers": {"dockerRegistry": section}})
    assert (hub.base_url, hub.registry, hub.cacheIntervalSeconds) == ("https://index.docker.io", "index.docker.io", 45)
    assert hub.basic_auth() == ("me", "from-a-file")
    assert "from-a-file" not in repr(hub) and "from-a-file" not in str(hub.public())
    assert docker_registry_accounts({"providers": {"dockerRegistry": {**section, "enabled": False}}}) == []

    bad = [
        {"name": "a"},
        {"name": "b", "address": "ftp://x"},
        {"name": "c", "address": "r.example", "username": "u"},
        {"name": "d", "address": "r.example", "passwordCommand": "vault read"},
        {"name": "e", "address": "r.example", "repositories": ["Not Valid"], "cacheIntervalSeconds": 0},
        {"name": "f", "address": "r.example", "passwordFile": str(tmp_path / "missing"), "username": "u"},
        {"name": "a", "address": "r.example", "password": "hunter2"},
    ]
    with pytest.raises(DockerConfigError) as error:
        docker_registry_accounts({"providers": {"dockerRegistry": {"accounts": bad}}})
    message = str(error.value)
    for expected in (
        "providers.dockerRegistry.accounts[0].address: field required",
        "providers.dockerRegistry.accounts[1].address: 'ftp://x' is not a registry address",
        "providers.dockerRegistry.accounts[2]: username needs `password` or `passwordFile`",
        "providers.dockerRegistry.accounts[3]: passwordCommand is not supported",
        "providers.dockerRegistry.accounts[4].repositories: 'Not Valid' is not a repository name",
        "providers.dockerRegistry.accounts[4].cacheIntervalSeconds: input should be greater than 0",
        f"providers.dockerRegistry.accounts[5]: cannot read passwordFile {tmp_path / 'missing'}",
        "providers.dockerRegistry.accounts[6]: a password needs a username",
    ):
        assert expected in message
    assert "hunter2" not in message


def test_pollers_from_the_configuration_and_the_saved_triggers(tmp_path: Path) -> None:
    config = {
        **LOOPBACK,
        "providers": {
            "dockerRegistry": {
                "accounts": [
                    {"name": "local", "address": "http://127.0.0.1:5000", "repositories": ["shop/web"]},
                    {"name": "quiet", "address": "https://quiet.example"},
                ]
            }
        },
        "artifacts": {"helm": {"accounts": [{"name": "charts", "repository": "http://127.0.0.1:8879/charts"}]}},
        "scheduler": {"helm": {"intervalSeconds": 15}},
    }
    triggers = [
        docker_trigger(repository="shop/api"),
        docker_trigger(repository="shop/web", tag="1\\..*"),
        docker_trigger(account="unknown", repository="x/y"),
        docker_trigger(repository="shop/off", enabled=False),
        {"type": "helm", "enabled": True, "account": "charts", "chart": "web", "version": "^1.2"},
        {"type": "helm", "enabled": True, "account": "charts", "chart": "web", "version": "^2"},
        {"type": "helm", "enabled": True, "account": "nope", "chart": "web"},
        {"type": "cron", "enabled": True, "cronExpression": "0 * * * * ?"},
    ]
    pipelines = [
        pipeline("p", [], triggers=triggers) | {"id": "p1"},
        pipeline("off", [], triggers=[docker_trigger(repository="shop/disabled")]) | {"id": "p2", "disabled": True},
    ]
    pollers = pollers_from_config(config, pipelines)
    assert [(p.key, p.trigger_type, p.interval_s) for p in pollers] == [
        ("docker:local/shop/web", "docker", 30.0),
        ("docker:local/shop/api", "docker", 30.0),
        ("helm:charts/web", "helm", 15.0),
    ]
    docker_pollers = [p for p in pollers if isinstance(p, DockerPoller)]
    assert docker_pollers[0].client is docker_pollers[1].client  # one client (and token cache) per account
    with pytest.raises(DockerConfigError, match=r"providers\.dockerRegistry\.accounts\[0\]\.address"):
        pollers_from_config({"providers": {"dockerRegistry": {"accounts": [{"name": "x"}]}}}, pipelines)


# -- end to end ----------------------------------------------------------------------------------------------
@pytest.fixture
def k8s_with_registry(kube: KubeEmulator, registry: DockerRegistry, tmp_path: Path) -> Iterator[Runtime]:
    kubeconfig = Path(kube.write_kubeconfig(tmp_path / "kubeconfig", context="emulator", namespace="default"))
    config = accounts_config(kubeconfig)
    config["providers"]["dockerRegistry"] = {
        "accounts": [{"name": "local", "address": registry.url, "cacheIntervalSeconds": 1}]
    }
    rt = make_runtime(tmp_path / "gennaker", config={**config, **LOOPBACK}, engine={"manifest_poll_ms": 50})
    rt.start_workers(1)
    yield rt
    rt.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_pushed_tag_starts_the_pipeline_that_deploys_it(
    k8s_with_registry: Runtime, registry: DockerRegistry, kube: KubeEmulator
) -> None:
    rt = k8s_with_registry
    image = f"{registry.address}/shop/web"
    registry.push("shop/web", "1.0", b"before")
    manifest = deployment(image=image, config=None)
    config = rt.save_pipeline(
        pipeline(
            "deploy-web",
            [deploy_stage([manifest], requiredArtifactIds=["image"])],
            app="shop",
            triggers=[docker_trigger(id="on-push", tag="1\\..*", expectedArtifactIds=["image"])],
            expectedArtifacts=[{"id": "image", "matchArtifact": {"type": "docker/image", "name": image}}],
        ),
        "tester",
    )

    def fire(conn: Connection, pipeline_config: Mapping[str, Any], trigger: dict[str, Any]) -> str:
        return rt.launcher.start(conn, dict(pipeline_config), trigger, "scheduler")

    with rt.db.read() as conn:
        pipelines = rt.pipelines.all(conn)
    clock = Clock()
    scheduler = Scheduler(
        rt.db,
        fire,
        SchedulerSettings(reload_s=0),
        clock=clock,
        pollers=pollers_from_config(rt.settings.config, pipelines),
    )
    assert scheduler.tick() == []  # the first poll records 1.0

    digest = registry.push("shop/web", "1.1", b"the new build")
    registry.push("shop/web", "2.0", b"does not match the tag pattern")
    clock.now += 0.5
    assert scheduler.tick() == []  # within the account's cacheIntervalSeconds: not polled yet
    clock.now += 1
    [started] = scheduler.tick()
    rt.wakeup.notify()  # what the scheduler's loop does after a tick that started executions
    execution = wait_status(rt, started, "SUCCEEDED", "TERMINAL", timeout=30)
    assert execution["status"] == "SUCCEEDED"
    assert execution["pipelineConfigId"] == config["id"]
    trigger = execution["trigger"]
    assert (trigger["type"], trigger["id"], trigger["tag"], trigger["digest"]) == ("docker", "on-push", "1.1", digest)
    [artifact] = trigger["artifacts"]
    assert (artifact["type"], artifact["name"], artifact["reference"]) == ("docker/image", image, f"{image}:1.1")
    assert trigger["resolvedExpectedArtifacts"][0]["boundArtifact"]["reference"] == f"{image}:1.1"
    live = kube.get_object("apps/v1", "Deployment", "default", "web")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == f"{image}:1.1"

    again = registry.push("shop/web", "1.1", b"rebuilt under the same tag")
    clock.now += 1
    [restarted] = scheduler.tick()
    rt.wakeup.notify()
    second = wait_status(rt, restarted, "SUCCEEDED", "TERMINAL", timeout=30)
    assert second["trigger"]["digest"] == again and second["trigger"]["tag"] == "1.1"

    clock.now += 1
    other = Scheduler(
        rt.db,
        fire,
        SchedulerSettings(reload_s=0),
        clock=clock,
        pollers=pollers_from_config(rt.settings.config, pipelines),
    )
    assert other.tick() == [] and scheduler.tick() == []  # nothing new; a second scheduler starts nothing twice
    with rt.db.read() as conn:
        history = scheduler.triggers.history(conn, config["id"])
    assert sorted(event["executionId"] for event in history) == sorted([started, restarted])
