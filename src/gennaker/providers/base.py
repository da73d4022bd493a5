"""What a deployment target offers the rest of Gennaker: accounts, live views of applications, live objects
and the changes the pages can ask for.

The service, the pages and the runtime use providers only through these names; a provider package
(`providers/kubernetes/`) implements `Provider`, and the runtime builds it, adds it to its `Providers` and
registers its stages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class ProviderError(Exception):
    """The target's API failed or could not be reached (the API answers 502)."""


class UnknownAccount(LookupError):
    """No configured account has this name."""


class InvalidRequest(ValueError):
    """A request the provider cannot act on as given (an object name it cannot parse, a bad action value): the
    message says what is wrong, `field` names the value at fault."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class Account(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def permissions(self) -> Mapping[str, Any]: ...

    def public(self) -> dict[str, Any]:
        """The account as `/credentials` lists it: never a secret."""
        ...


@dataclass(frozen=True)
class LiveObject:
    """One object read live from an account, as the pages and the API show it."""

    manifest: dict[str, Any]  # the object as the target returned it
    application: str  # the application the object belongs to ("" when it names none)
    editable: dict[str, Any]  # the object without what the target owns (status, managed fields), to edit
    # Clouddriver's manifest shape (status, events, artifacts, moniker), when asked for: it costs more reads.
    view: dict[str, Any] = field(default_factory=dict)
    pods: list[dict[str, Any]] = field(default_factory=list)  # its newest pods, when asked for


Listener = Callable[[list[str]], None]  # called with the names of accounts whose live objects changed


class AccountSet(Protocol):
    def __iter__(self) -> Iterator[Account]: ...

    def get(self, name: str) -> Account:
        """The named account; raises `UnknownAccount`."""
        ...


class LiveInfrastructure(Protocol):
    """An application's live infrastructure in some of the provider's accounts (Deck's clusters view)."""

    def server_groups(self, application: str, accounts: list[str] | None = None) -> list[dict[str, Any]]: ...

    def server_group_managers(self, application: str, accounts: list[str] | None = None) -> list[dict[str, Any]]: ...

    def clusters(self, application: str, accounts: list[str] | None = None) -> dict[str, list[dict[str, Any]]]: ...

    def load_balancers(
        self, application: str, accounts: list[str] | None = None, groups: list[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """The application's load balancers (`groups`: its server groups, when already read)."""
        ...

    def firewalls(self, application: str, accounts: list[str] | None = None) -> list[dict[str, Any]]: ...

    def age_s(self, account: str) -> float:
        """Seconds since the account's live view last heard from the target (infinite when unreachable)."""
        ...

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` when live objects of an account change; returns the unsubscribe."""
        ...


@runtime_checkable
class Provider(Protocol):
    """A deployment target (Kubernetes today). Permissions are checked by the service, not here."""

    @property
    def name(self) -> str:
        """Spinnaker's `cloudProvider`."""
        ...

    @property
    def accounts(self) -> AccountSet: ...

    @property
    def infrastructure(self) -> LiveInfrastructure: ...

    # -- one object ----------------------------------------------------------------------------------
    def live_object(
        self, account: str, location: str, name: str, *, view: bool = False, pods: bool = False
    ) -> LiveObject | None:
        """The object `name` in `location`, read live (None when absent), with its view and pods when asked;
        raises `InvalidRequest` for a name the provider cannot parse, `ProviderError` when the target fails."""
        ...

    def instance(self, account: str, location: str, name: str) -> dict[str, Any] | None:
        """An instance (a pod) with its health and manifest, read live; None when absent."""
        ...

    def console(
        self, account: str, location: str, name: str, tail_lines: int | None = None
    ) -> list[tuple[str, str]] | None:
        """`(container, output)` of each of an instance's containers; None when the instance is absent."""
        ...

    # -- changes, as stages of a task ----------------------------------------------------------------
    def action_stage(
        self, action: str, account: str, location: str, name: str, application: str, values: Mapping[str, str]
    ) -> dict[str, Any]:
        """The stage context that does `action`, one the pages offer on a live object (scale, undo, delete…);
        raises `InvalidRequest` naming an unknown action or a bad value."""
        ...

    def replace_stage(self, account: str, location: str, name: str, application: str, manifest: Any) -> dict[str, Any]:
        """The stage context that replaces the live object `name` by `manifest` (raises `InvalidRequest`
        when `manifest` is not that object)."""
        ...

    def close(self) -> None: ...


class Providers:
    """Every configured provider, each account found in the one provider that has it."""

    def __init__(self, providers: Iterable[Provider]):
        self._providers = list(providers)
        self._by_account: dict[str, Provider] = {}
        duplicates = set()
        for provider in self._providers:
            for account in provider.accounts:
                if account.name in self._by_account:
                    duplicates.add(account.name)
                self._by_account.setdefault(account.name, provider)
        if duplicates:
            raise ValueError(
                f"providers: account name(s) {sorted(duplicates)} are configured in more than one provider"
            )

    def accounts(self) -> list[Account]:
        return [account for provider in self._providers for account in provider.accounts]

    def of(self, account: str) -> Provider:
        """The provider that has `account`; raises `UnknownAccount`."""
        found = self._by_account.get(account)
        if found is None:
            raise UnknownAccount(f"account '{account}' not found")
        return found

    def account(self, name: str) -> Account:
        return self.of(name).accounts.get(name)

    def by_provider(self, accounts: Iterable[str]) -> list[tuple[Provider, list[str]]]:
        """The accounts grouped by their provider, in the providers' order (unknown names left out)."""
        wanted = set(accounts)
        grouped = []
        for provider in self._providers:
            mine = [a.name for a in provider.accounts if a.name in wanted]
            if mine:
                grouped.append((provider, mine))
        return grouped

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """`listener` hears of changes in every provider's accounts."""
        unsubscribes = [provider.infrastructure.subscribe(listener) for provider in self._providers]

        def unsubscribe() -> None:
            for each in unsubscribes:
                each()

        return unsubscribe

    def close(self) -> None:
        for provider in self._providers:
            provider.close()
