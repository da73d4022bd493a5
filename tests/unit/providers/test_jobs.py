"""Whole numbers read from users (form values, annotations): in the stage contexts built from the pages' and the
CLI's forms a value that is not a plain, bounded whole number is a named refusal, never a crash
(`"²".isdigit()` is true, and `int()` refuses 5,000 digits)."""

from __future__ import annotations

import pytest

from gennaker.providers.kubernetes.jobs import BadValue, action_job, replace_job
from gennaker.providers.kubernetes.manifest import read_moniker, version_number, whole_number

TARGET = ("emu", "default", "deployment web", "shop")


@pytest.mark.parametrize("replicas", ["²", "-1", "1.5", "", "9" * 5000])
def test_scale_refuses_what_is_not_a_plain_whole_number(replicas: str) -> None:
    with pytest.raises(BadValue) as refused:
        action_job("scale", *TARGET, {"replicas": replicas})
    assert refused.value.field == "replicas"


def test_undo_takes_a_revision_or_goes_back_one() -> None:
    assert action_job("undo", *TARGET, {"revision": "3"})["revision"] == 3
    for empty in ("", " "):
        assert action_job("undo", *TARGET, {"revision": empty})["numRevisionsBack"] == 1
    assert action_job("undo", *TARGET, {})["numRevisionsBack"] == 1


@pytest.mark.parametrize("typo", ["³", "9" * 5000, "3a", "-1"])
def test_an_undo_to_a_malformed_revision_is_refused_not_taken_as_the_previous_one(typo: str) -> None:
    with pytest.raises(BadValue, match="must be a whole number") as refused:
        action_job("undo", *TARGET, {"revision": typo})
    assert refused.value.field == "revision" and len(str(refused.value)) < 200


def test_a_replacement_keeps_kind_name_and_namespace() -> None:
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}
    job = replace_job("emu", "prod", "deployment web", "shop", manifest)
    assert job["manifests"][0]["metadata"]["namespace"] == "prod" and job["type"] == "deployManifest"
    with pytest.raises(BadValue, match="must stay one deployment web"):
        replace_job("emu", "prod", "deployment web", "shop", {**manifest, "metadata": {"name": "api"}})
    with pytest.raises(BadValue, match="is not a manifest"):
        replace_job("emu", "prod", "deployment web", "shop", {"kind": "Deployment"})


@pytest.mark.parametrize(
    ("value", "number"), [("12", 12), (0, 0), ("²", None), ("v1", None), (True, None), ("9" * 10, None)]
)
def test_annotations_and_form_values_read_as_whole_numbers(value: object, number: int | None) -> None:
    assert whole_number(value) == number


def test_odd_version_and_history_annotations_are_ignored_not_fatal() -> None:
    odd = {"metadata": {"annotations": {"artifact.spinnaker.io/version": "v²", "moniker.spinnaker.io/sequence": "²"}}}
    assert version_number(odd) is None
    assert "sequence" not in read_moniker(odd)
    assert version_number({"metadata": {"annotations": {"artifact.spinnaker.io/version": "v007"}}}) == 7
