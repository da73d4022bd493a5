"""Live infrastructure through the service, over more than one provider: a second provider (an in-memory one
defined here, as a new `providers/<x>/` package would be) is added to the runtime's `Providers` and nothing
else; its accounts, server groups, live objects and actions then reach users with the same permission rules
as Kubernetes'."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from gennaker.providers.base import InvalidRequest, LiveObject, Provider, ProviderError, Providers, UnknownAccount
from gennaker.runtime import Runtime
from gennaker.service.errors import Forbidden, Invalid, NotFound, Unavailable
from gennaker.service.wiring import Services


@dataclass(frozen=True)
class StaticAccount:
    name: str
    permissions: Mapping[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "type": "static", "cloudProvider": "static"}


class StaticAccounts:
    def __init__(self, accounts: list[StaticAccount]):
        self._accounts = {a.name: a for a in accounts}

    def __iter__(self) -> Iterator[StaticAccount]:
        return iter(self._accounts.values())

    def get(self, name: str) -> StaticAccount:
        if name not in self._accounts:
            raise UnknownAccount(name)
        return self._accounts[name]


class StaticInfrastructure:
    """Each account runs one server group per application, named after it."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[list[str]], None]] = []

    def server_groups(self, application: str, accounts: list[str] | None = None) -> list[dict[str, Any]]:
        return [
            {"account": a, "region": "r1", "cluster": application, "name": f"{application}-v001", "kind": "vm"}
            for a in accounts or []
        ]

    def server_group_managers(self, application: str, accounts: list[str] | None = None) -> list[dict[str, Any]]:
        return []

    def clusters(self, application: str, accounts: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        return {a: [{"name": application, "provider": "static"}] for a in accounts or []}

    def load_balancers(
        self, application: str, accounts: list[str] | None = None, groups: list[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        return []

    def firewalls(self, application: str, accounts: list[str] | None = None) -> list[dict[str, Any]]:
        return []

    def age_s(self, account: str) -> float:
        return 1.5

    def subscribe(self, listener: Callable[[list[str]], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)


class StaticProvider:
    name = "static"

    def __init__(self, accounts: list[StaticAccount]):
        self.accounts = StaticAccounts(accounts)
        self.infrastructure = StaticInfrastructure()
        self.closed = False

    def live_object(
        self, account: str, location: str, name: str, *, view: bool = False, pods: bool = False
    ) -> LiveObject | None:
        if name == "broken":
            raise ProviderError("the static API is down")
        if " " in name:
            raise InvalidRequest("must be one word", "name")
        if name != "vm-1":
            return None
        manifest = {"name": name, "location": location}
        return LiveObject(manifest, "shop", manifest, view={"name": name} if view else {})

    def instance(self, account: str, location: str, name: str) -> dict[str, Any] | None:
        return None

    def console(
        self, account: str, location: str, name: str, tail_lines: int | None = None
    ) -> list[tuple[str, str]] | None:
        return None

    def action_stage(
        self, action: str, account: str, location: str, name: str, application: str, values: Mapping[str, str]
    ) -> dict[str, Any]:
        if action != "reboot":
            raise InvalidRequest(f"unknown action '{action}'", "action")
        return {"type": "wait", "waitTime": 0, "account": account, "target": name}

    def replace_stage(self, account: str, location: str, name: str, application: str, manifest: Any) -> dict[str, Any]:
        raise InvalidRequest("static objects cannot be replaced", "manifest")

    def close(self) -> None:
        self.closed = True


ACCOUNTS = [
    StaticAccount("vms", {"READ": ["dev", "viewer"], "WRITE": ["dev"]}),
    StaticAccount("secret", {"READ": ["admin"]}),
]


@pytest.fixture
def static(rt: Runtime, service: Services) -> Iterator[StaticProvider]:
    """The second provider, registered the way the runtime registers one: added to its `Providers`."""
    provider = StaticProvider(ACCOUNTS)
    assert isinstance(provider, Provider)  # the protocol is all a provider implements
    rt.providers = Providers([rt.kubernetes, provider])
    rt.service = Services(rt)
    yield provider


def test_accounts_of_every_provider_are_listed_as_their_permissions_allow(rt: Runtime, static: StaticProvider) -> None:
    assert [a.name for a in rt.service.infrastructure.accounts("dev")] == ["vms"]
    assert [a.name for a in rt.service.infrastructure.accounts("admin")] == ["vms", "secret"]
    assert [a.name for a in rt.service.infrastructure.accounts("viewer", "WRITE")] == []
    with pytest.raises(NotFound, match="account 'secret' not found"):  # not revealed to those who may not READ
        rt.service.infrastructure.account("secret", "dev")
    with pytest.raises(Forbidden, match="viewer lacks WRITE permission on account 'vms'"):
        rt.service.infrastructure.account("vms", "viewer", "WRITE")


def test_an_application_view_covers_the_readable_accounts_of_every_provider(
    rt: Runtime, static: StaticProvider
) -> None:
    view = rt.service.infrastructure.view("shop", "dev")
    assert view.accounts == ["vms"] and view.ages() == {"vms": 1.5} and view.age_s() == 1.5
    assert [(g["account"], g["name"]) for g in view.server_groups()] == [("vms", "shop-v001")]
    assert view.clusters() == {"vms": [{"name": "shop", "provider": "static"}]}
    assert [g["account"] for g in rt.service.infrastructure.view("shop", "admin").server_groups()] == ["vms", "secret"]
    with pytest.raises(NotFound):
        rt.service.infrastructure.view("shop", "outsider")
    with pytest.raises(NotFound, match="account 'secret'"):
        rt.service.infrastructure.view("shop", "dev", "secret")


def test_live_objects_answer_not_found_invalid_or_unavailable(rt: Runtime, static: StaticProvider) -> None:
    infrastructure = rt.service.infrastructure
    assert infrastructure.live_object("vms", "r1", "vm-1", "viewer").manifest == {"name": "vm-1", "location": "r1"}
    with pytest.raises(NotFound, match="vm-2 not found in namespace 'r1' of account 'vms'"):
        infrastructure.live_object("vms", "r1", "vm-2", "viewer")
    with pytest.raises(Invalid) as invalid:
        infrastructure.live_object("vms", "r1", "two words", "viewer")
    assert invalid.value.problems == [("name", "must be one word")]
    with pytest.raises(Unavailable, match="the static API is down"):
        infrastructure.live_object("vms", "r1", "broken", "viewer")
    with pytest.raises(NotFound, match="pod 'vm-1' not found"):
        infrastructure.console("vms", "r1", "vm-1", "viewer")


def test_actions_run_the_providers_stage_as_a_task_with_write_on_both(rt: Runtime, static: StaticProvider) -> None:
    infrastructure = rt.service.infrastructure
    task_id = infrastructure.act("shop", "reboot", ("vms", "r1", "vm-1"), {}, "dev")
    task = rt.service.executions.task(task_id, "dev")
    assert task["name"] == "reboot vm-1" and task["authentication"]["user"] == "dev"
    assert task["stages"][0]["type"] == "wait" and task["stages"][0]["context"]["target"] == "vm-1"
    with pytest.raises(Forbidden, match="viewer lacks WRITE permission on application 'shop'"):
        infrastructure.act("shop", "reboot", ("vms", "r1", "vm-1"), {}, "viewer")
    with pytest.raises(Invalid) as invalid:
        infrastructure.act("shop", "explode", ("vms", "r1", "vm-1"), {}, "dev")
    assert invalid.value.problems == [("action", "unknown action 'explode'")]
    with pytest.raises(Invalid, match="manifest: static objects cannot be replaced"):
        infrastructure.replace("shop", ("vms", "r1", "vm-1"), {}, "dev")


def test_a_change_needs_write_on_the_account_as_well(rt: Runtime, service: Services) -> None:
    shared = StaticAccount("shared", {"READ": ["dev"], "WRITE": ["admin"]})
    rt.providers = Providers([rt.kubernetes, StaticProvider([shared])])
    rt.service = Services(rt)
    infrastructure = rt.service.infrastructure
    changes = [
        lambda: infrastructure.act("shop", "reboot", ("shared", "r1", "vm-1"), {}, "dev"),
        lambda: infrastructure.replace("shop", ("shared", "r1", "vm-1"), {}, "dev"),
        lambda: rt.service.tasks.start_infrastructure("shop", "reboot", [{"type": "wait", "account": "shared"}], "dev"),
    ]
    for change in changes:  # dev may WRITE the application, and only READ the account
        with pytest.raises(Forbidden, match="dev lacks WRITE permission on account 'shared'"):
            change()


def test_live_changes_of_every_provider_reach_a_subscriber(rt: Runtime, static: StaticProvider) -> None:
    heard: list[list[str]] = []
    unsubscribe = rt.service.infrastructure.subscribe(heard.append)
    for listener in list(static.infrastructure.listeners):
        listener(["vms"])
    unsubscribe()
    assert heard == [["vms"]] and static.infrastructure.listeners == []
    rt.providers.close()
    assert static.closed


def test_an_account_name_belongs_to_one_provider(static: StaticProvider) -> None:
    with pytest.raises(ValueError, match=r"account name\(s\) \['vms'\] are configured in more than one provider"):
        Providers([static, StaticProvider([StaticAccount("vms")])])
    with pytest.raises(UnknownAccount):
        Providers([static]).of("nope")
