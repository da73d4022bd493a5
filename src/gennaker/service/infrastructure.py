"""What runs where, and the changes users make to it: accounts, applications' live infrastructure, live objects
and instances, and actions on them, over every configured provider.

Permissions are checked here: an account's existence is revealed only to those who may READ it, changes
need WRITE on the application and on the account. Changes run as tasks (`Tasks.start_infrastructure`),
through the same stage code as pipelines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from gennaker.providers.base import Account, InvalidRequest, LiveObject, Provider, ProviderError, Providers
from gennaker.service.access import Access, Actor, Who
from gennaker.service.applications import Applications
from gennaker.service.errors import Invalid, NotFound, Unavailable
from gennaker.service.tasks import Tasks

T = TypeVar("T")


@dataclass(frozen=True)
class ApplicationView:
    """An application's live infrastructure in the accounts its reader may see."""

    application: str
    attributes: dict[str, Any] | None  # the application's stored attributes (None: not stored)
    accounts: list[str]
    providers: Providers

    def _each(self) -> list[tuple[Provider, list[str]]]:
        return self.providers.by_provider(self.accounts)

    def age_s(self) -> float:
        """Age of the oldest account view in it (0 when it covers no account)."""
        return max((p.infrastructure.age_s(a) for p, accounts in self._each() for a in accounts), default=0.0)

    def ages(self) -> dict[str, float]:
        return {a: p.infrastructure.age_s(a) for p, accounts in self._each() for a in accounts}

    def server_groups(self) -> list[dict[str, Any]]:
        return [g for p, a in self._each() for g in p.infrastructure.server_groups(self.application, a)]

    def server_group_managers(self) -> list[dict[str, Any]]:
        return [m for p, a in self._each() for m in p.infrastructure.server_group_managers(self.application, a)]

    def clusters(self) -> dict[str, list[dict[str, Any]]]:
        return {k: v for p, a in self._each() for k, v in p.infrastructure.clusters(self.application, a).items()}

    def load_balancers(self, groups: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        return [
            balancer
            for p, a in self._each()
            for balancer in p.infrastructure.load_balancers(
                self.application, a, None if groups is None else [g for g in groups if g["account"] in a]
            )
        ]

    def firewalls(self) -> list[dict[str, Any]]:
        return [f for p, a in self._each() for f in p.infrastructure.firewalls(self.application, a)]


class Infrastructure:
    def __init__(self, providers: Providers, access: Access, applications: Applications, tasks: Tasks):
        self.providers = providers
        self.access = access
        self.applications = applications
        self.tasks = tasks

    # -- accounts ------------------------------------------------------------------------------------
    def accounts(self, who: Who, permission: str = "READ") -> list[Account]:
        """The provider accounts `who` may READ (or WRITE, which implies READ)."""
        actor = self.access.actor(who)
        return [a for a in self.providers.accounts() if _allows(actor, a, permission)]

    def account(self, name: str, who: Who, permission: str = "READ") -> Account:
        """The account, if `who` may use it so: not found when they may not READ it, forbidden without WRITE."""
        actor = self.access.actor(who)
        try:
            found = self.providers.account(name)
        except LookupError:
            raise NotFound(f"account '{name}' not found") from None
        Access.require_account(actor, name, found.permissions, permission)
        return found

    def subscribe(self, listener: Callable[[list[str]], None]) -> Callable[[], None]:
        """`listener` hears the names of accounts whose live objects changed (the pages' live streams)."""
        return self.providers.subscribe(listener)

    # -- applications' live infrastructure -------------------------------------------------------------
    def view(self, application: str, who: Who, account: str | None = None) -> ApplicationView:
        """The application's live infrastructure in every account `who` may read (or only `account`)."""
        attributes = self.applications.require(application, who, "READ")
        if account is not None:
            self.account(account, who)
            accounts = [account]
        else:
            accounts = [a.name for a in self.accounts(who)]
        return ApplicationView(application, attributes, accounts, self.providers)

    # -- live objects --------------------------------------------------------------------------------
    def live_object(
        self, account: str, location: str, name: str, who: Who, *, view: bool = False, pods: bool = False
    ) -> LiveObject:
        """One object read live from an account `who` may read (`name` is the provider's, e.g. "deployment web"),
        with its view and pods when asked for."""
        return self._read_live(
            account,
            who,
            lambda p: p.live_object(account, location, name, view=view, pods=pods),
            f"{name} not found",
            location,
        )

    def instance(self, account: str, location: str, name: str, who: Who) -> dict[str, Any]:
        return self._read_live(
            account, who, lambda p: p.instance(account, location, name), f"pod '{name}' not found", location
        )

    def console(
        self, account: str, location: str, name: str, who: Who, tail_lines: int | None = None
    ) -> list[tuple[str, str]]:
        """`(container, output)` for each container of an instance, read live."""
        return self._read_live(
            account, who, lambda p: p.console(account, location, name, tail_lines), f"pod '{name}' not found", location
        )

    def _read_live(
        self, account: str, who: Who, read: Callable[[Provider], T | None], missing: str, location: str
    ) -> T:
        """What `read` finds in the account's provider, once `who` may READ the account; its failures as
        the service's refusals (a bad name: Invalid, the target down: Unavailable, nothing there: NotFound)."""
        self.account(account, who)
        try:
            found = read(self.providers.of(account))
        except InvalidRequest as error:
            raise Invalid.field(error.field or "name", str(error)) from None
        except ProviderError as error:
            raise Unavailable(str(error)) from None
        if found is None:
            raise NotFound(f"{missing} in namespace '{location}' of account '{account}'")
        return found

    # -- changes -------------------------------------------------------------------------------------
    def act(
        self,
        application: str,
        action: str,
        target: tuple[str, str, str],
        values: Mapping[str, str],
        who: Who,
    ) -> str:
        """Run `action` on the live object `target` (account, location, name) as a task; returns its id."""
        account, location, name = target
        return self._change(
            application,
            account,
            f"{action} {name}",
            who,
            lambda p: p.action_stage(action, account, location, name, application, values),
            "action",
        )

    def replace(self, application: str, target: tuple[str, str, str], manifest: Any, who: Who) -> str:
        """Deploy `manifest` in place of the live object `target` as a task; returns its id."""
        account, location, name = target
        return self._change(
            application,
            account,
            f"edit {name}",
            who,
            lambda p: p.replace_stage(account, location, name, application, manifest),
            "manifest",
        )

    def _change(
        self,
        application: str,
        account: str,
        description: str,
        who: Who,
        stage: Callable[[Provider], dict[str, Any]],
        field: str,
    ) -> str:
        """Start the stage the account's provider makes as a task, once `who` may WRITE the application and the
        account; a value the provider refuses is Invalid on its field (else on `field`)."""
        actor = self.access.actor(who)
        self.applications.require(application, actor, "WRITE")
        self.account(account, actor, "WRITE")
        try:
            job = stage(self.providers.of(account))
        except InvalidRequest as error:
            raise Invalid.field(error.field or field, str(error)) from None
        return self.tasks.start_checked(application, description, [job], actor)


def _allows(actor: Actor, account: Account, permission: str) -> bool:
    return actor.account is None or actor.account(account.permissions, permission)
