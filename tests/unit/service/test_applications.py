"""Applications through the service: anyone may create one, changing one needs WRITE, and a refusal says
why in the service's terms."""

from __future__ import annotations

import pytest

from gennaker.service.errors import Conflict, Forbidden, Invalid, NotFound
from gennaker.service.wiring import Services


def test_a_name_is_created_once_and_must_be_valid(service: Services) -> None:
    with pytest.raises(Conflict, match="application 'shop' already exists"):
        service.applications.create("Shop", {}, "dev")
    with pytest.raises(Invalid) as invalid:
        service.applications.create("9lives", {}, "dev")
    assert invalid.value.details()[0]["field"] == "name"
    created = service.applications.create("cart", {"email": "cart@example.com"}, "outsider")
    assert created["lastModifiedBy"] == "outsider"


def test_changes_need_write_and_an_existing_application(service: Services) -> None:
    with pytest.raises(Forbidden):
        service.applications.update("shop", {"email": "x@example.com"}, "viewer")
    with pytest.raises(NotFound):  # a missing application is not found, whoever asks
        service.applications.update("nowhere", {}, "outsider")
    assert service.applications.update("shop", {"email": "x@example.com"}, "dev")["email"] == "x@example.com"
    with pytest.raises(Forbidden):
        service.applications.delete("shop", "viewer")
    service.applications.delete("shop", "dev")
    with pytest.raises(NotFound):
        service.applications.get("shop", "admin")


def test_the_list_shows_only_readable_applications(service: Services) -> None:
    service.applications.create("open-to-outsiders", {"permissions": {"READ": ["outsider"]}}, "admin")
    assert [a["name"] for a in service.applications.visible("outsider")] == ["open-to-outsiders"]
    assert [a["name"] for a in service.applications.visible("admin")] == ["open-to-outsiders", "shop"]
