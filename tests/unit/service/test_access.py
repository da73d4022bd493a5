"""Who may do what: user names judged by stored roles where permissions are enforced, trusted where not; an
application one may not read is "not found", one one may read but not change is "forbidden"."""

from __future__ import annotations

import pytest

from gennaker.auth.identity import Identity
from gennaker.runtime import Runtime
from gennaker.service.access import Access, Actor
from gennaker.service.errors import Forbidden, NotFound
from gennaker.service.wiring import Services
from gennaker.store.applications import ApplicationStore
from tests.unit.service.conftest import SHOP


def test_a_user_name_is_judged_by_its_stored_roles_where_permissions_are_enforced(rt: Runtime) -> None:
    access = Access(ApplicationStore(), rt.permissions)
    shop = {"name": "shop", "permissions": SHOP}
    assert access.actor("dev").application(shop, "WRITE")
    assert access.actor("viewer").application(shop, "READ") and not access.actor("viewer").application(shop, "WRITE")
    assert not access.actor("outsider").application(shop, "READ")
    assert access.actor("admin").identity.is_admin


def test_a_user_name_is_trusted_where_permissions_are_not_enforced() -> None:
    actor = Access(ApplicationStore(), None).actor("someone")
    assert actor.name == "someone" and actor.account is None
    assert actor.application({"permissions": {"READ": ["other"]}}, "WRITE")


def test_an_actor_passed_in_decides_with_its_own_rule() -> None:
    """The API's security policy, not the stored roles, decides for its callers."""
    only_reads = Actor(Identity("api-caller", frozenset()), lambda _attributes, permission: permission == "READ")
    assert Access(ApplicationStore(), None).actor(only_reads) is only_reads


def test_unreadable_is_not_found_and_unwritable_is_forbidden(service: Services) -> None:
    with pytest.raises(NotFound, match="application 'shop' not found"):
        service.applications.get("shop", "outsider")
    with pytest.raises(Forbidden, match="viewer lacks WRITE permission on application 'shop'"):
        service.applications.get("shop", "viewer", "WRITE")
    assert service.applications.get("SHOP", "viewer")["name"] == "shop"


@pytest.mark.parametrize(
    ("who", "permission", "refusal"),
    [("reader", "READ", None), ("reader", "WRITE", Forbidden), ("nobody", "READ", NotFound), ("ops", "WRITE", None)],
)
def test_account_checks(who: str, permission: str, refusal: type[Exception] | None, rt: Runtime) -> None:
    actor = Access(ApplicationStore(), rt.permissions).actor(Identity(who, frozenset({who})))
    account = {"READ": ["reader"], "WRITE": ["ops"]}
    if refusal is None:
        Access.require_account(actor, "prod", account, permission)
    else:
        with pytest.raises(refusal):
            Access.require_account(actor, "prod", account, permission)
