"""`gcs/object` artifacts against fake-gcs-server behind a local OAuth token endpoint, all on 127.0.0.1."""

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from gennaker.artifacts import ArtifactFetchError, artifact_accounts
from gennaker.artifacts.fetchers import ArtifactFetcher, OutboundPolicy, public_only_guard
from tests.emulators.cloud_storage import GcsServer
from tests.emulators.github import LocalHttpServer, Request, text_reply
from tests.unit.artifacts.conftest import MakeFetcher, local_client

pytestmark = pytest.mark.slow
MANIFEST = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n"


@pytest.fixture(scope="module")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsServer]:
    with GcsServer(tmp_path_factory.mktemp("gcs")) as server:
        server.create_bucket("manifests")
        yield server


def gcs_section(endpoint: str, json_path: Path | None, **extra: Any) -> dict[str, Any]:
    account: dict[str, Any] = {"name": "gcs", "apiEndpoint": endpoint, **extra}
    if json_path is not None:
        account["jsonPath"] = str(json_path)
    return {"gcs": {"enabled": True, "accounts": [account]}}


def test_object_is_fetched_with_a_token_from_the_key_file(gcs: GcsServer, make_fetcher: MakeFetcher) -> None:
    gcs.upload("manifests", "shop/config map.yaml", MANIFEST)
    fetcher = make_fetcher(gcs_section(gcs.url, gcs.key_file))
    tokens_before, seen_before = gcs.tokens_issued, len(gcs.storage_requests())
    artifact = {"type": "gcs/object", "reference": "gs://manifests/shop/config map.yaml", "artifactAccount": "gcs"}
    assert fetcher(artifact) == MANIFEST
    assert fetcher({"type": "gcs/object", "reference": "gs://manifests/shop/config map.yaml"}) == MANIFEST
    assert gcs.tokens_issued == tokens_before + 1  # the token is kept until it expires
    seen = gcs.storage_requests()[seen_before:]
    assert [r.path for r in seen] == ["/storage/v1/b/manifests/o/shop%2Fconfig%20map.yaml?alt=media"] * 2
    assert all((r.header("Authorization") or "").startswith("Bearer ya29.") for r in seen)


def test_generation_from_the_reference_or_the_version(gcs: GcsServer, make_fetcher: MakeFetcher) -> None:
    old = gcs.upload("manifests", "app.yaml", b"replicas: 1\n")
    current = gcs.upload("manifests", "app.yaml", b"replicas: 2\n")
    fetcher = make_fetcher(gcs_section(gcs.url, gcs.key_file))
    assert fetcher({"type": "gcs/object", "reference": f"gs://manifests/app.yaml#{current}"}) == b"replicas: 2\n"
    assert fetcher({"type": "gcs/object", "reference": "gs://manifests/app.yaml", "version": current}) == (
        b"replicas: 2\n"
    )
    # The emulator keeps only the newest generation, so asking for the older one proves the generation is sent.
    with pytest.raises(ArtifactFetchError, match=rf"generation {old} of gs://manifests/app\.yaml#{old} does not exist"):
        fetcher({"type": "gcs/object", "reference": "gs://manifests/app.yaml", "version": old})
    with pytest.raises(ArtifactFetchError, match=rf"generation {current} and the version {old} disagree"):
        fetcher({"type": "gcs/object", "reference": f"gs://manifests/app.yaml#{current}", "version": old})
    with pytest.raises(ArtifactFetchError, match="a gcs/object generation is a number, not 'latest'"):
        fetcher({"type": "gcs/object", "reference": "gs://manifests/app.yaml", "version": "latest"})
    with pytest.raises(ArtifactFetchError, match="a gcs/object generation is a number, not '²'"):
        fetcher({"type": "gcs/object", "reference": "gs://manifests/app.yaml", "version": "²"})


def test_missing_object_is_named(gcs: GcsServer, make_fetcher: MakeFetcher) -> None:
    fetcher = make_fetcher(gcs_section(gcs.url, gcs.key_file))
    with pytest.raises(ArtifactFetchError) as missing:
        fetcher({"type": "gcs/object", "reference": "gs://manifests/nope/app.yaml"})
    assert str(missing.value).startswith(
        "cannot fetch artifact gcs/object reference=gs://manifests/nope/app.yaml with account gcs: "
        "object gs://manifests/nope/app.yaml does not exist ("
    )
    with pytest.raises(ArtifactFetchError, match=r"needs `reference` gs://<bucket>/<path>, not 's3://manifests/a'"):
        fetcher({"type": "gcs/object", "reference": "s3://manifests/a"})


def test_a_key_the_token_endpoint_does_not_know_gets_no_token(
    gcs: GcsServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    stranger = gcs.write_key_file(
        tmp_path / "other.json", rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    fetcher = make_fetcher(gcs_section(gcs.url, stranger))
    seen_before = len(gcs.storage_requests())
    with pytest.raises(ArtifactFetchError, match=r"account gcs: cannot get an access token: .*invalid_grant"):
        fetcher({"type": "gcs/object", "reference": "gs://manifests/app.yaml"})
    assert len(gcs.storage_requests()) == seen_before


def test_application_default_credentials(
    gcs: GcsServer, make_fetcher: MakeFetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    gcs.upload("manifests", "adc.yaml", b"adc\n")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(gcs.key_file))
    fetcher = make_fetcher(gcs_section(gcs.url, None))
    assert fetcher({"type": "gcs/object", "reference": "gs://manifests/adc.yaml"}) == b"adc\n"


def test_the_token_never_follows_a_redirect(gcs: GcsServer, make_fetcher: MakeFetcher) -> None:
    with LocalHttpServer(lambda request: text_reply(200, "stolen")) as other:

        def redirect(request: Request):  # type: ignore[no-untyped-def]
            return text_reply(302, "", {"Location": f"{other.url}/o/app.yaml"})

        with LocalHttpServer(redirect) as endpoint:
            fetcher = make_fetcher(gcs_section(endpoint.url, gcs.key_file))
            with pytest.raises(
                ArtifactFetchError, match=r"with a redirect to http://127\.0\.0\.1:\d+/o/app\.yaml; .*not followed"
            ):
                fetcher({"type": "gcs/object", "reference": "gs://manifests/app.yaml"})
    assert [r.path for r in endpoint.requests] == ["/storage/v1/b/manifests/o/app.yaml"]
    assert (endpoint.requests[0].header("Authorization") or "").startswith("Bearer ya29.")
    assert other.requests == []


def test_outbound_guard_applies_to_the_endpoint(gcs: GcsServer) -> None:
    gcs.upload("manifests", "guarded.yaml", b"guarded\n")
    accounts = artifact_accounts(gcs_section(gcs.url, gcs.key_file))
    artifact = {"type": "gcs/object", "reference": "gs://manifests/guarded.yaml"}
    refused = ArtifactFetcher(accounts, client_factory=local_client, guard=public_only_guard())
    tokens_before = gcs.tokens_issued
    with pytest.raises(ArtifactFetchError, match=r"is not allowed: 127\.0\.0\.1 is the non-public address"):
        refused(artifact)
    assert gcs.tokens_issued == tokens_before  # refused before any token was asked for
    policy = OutboundPolicy.from_config({"allowNetworks": ["127.0.0.0/8"]})
    allowed = ArtifactFetcher(accounts, client_factory=local_client, guard=public_only_guard(policy))
    assert allowed(artifact) == b"guarded\n"


def test_size_limit(gcs: GcsServer, make_fetcher: MakeFetcher) -> None:
    gcs.upload("manifests", "big.bin", b"0123456789")
    fetcher = make_fetcher(gcs_section(gcs.url, gcs.key_file), max_bytes=4)
    with pytest.raises(ArtifactFetchError, match=r"gs://manifests/big\.bin is larger than the limit of 4 bytes"):
        fetcher({"type": "gcs/object", "reference": "gs://manifests/big.bin"})


def test_wrong_account_is_a_clear_error(gcs: GcsServer, make_fetcher: MakeFetcher) -> None:
    fetcher = make_fetcher(gcs_section(gcs.url, gcs.key_file))
    with pytest.raises(ArtifactFetchError, match="account gcs handles gcs/object, not s3/object"):
        fetcher({"type": "s3/object", "reference": "s3://manifests/app.yaml", "artifactAccount": "gcs"})


def test_missing_google_auth_names_the_extra(
    gcs: GcsServer, make_fetcher: MakeFetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("google.auth", "google.auth.exceptions"):
        monkeypatch.setitem(sys.modules, module, None)
    fetcher = make_fetcher(gcs_section(gcs.url, gcs.key_file))
    with pytest.raises(
        ArtifactFetchError, match=r"need google-auth, which is not installed: pip install 'gennaker\[gcp\]'"
    ):
        fetcher({"type": "gcs/object", "reference": "gs://manifests/app.yaml"})


def test_unsupported_credential_file_type_is_named(make_fetcher: MakeFetcher, tmp_path: Path) -> None:
    key = tmp_path / "federated.json"
    key.write_text('{"type": "external_account", "audience": "x"}')
    fetcher = make_fetcher(gcs_section("http://127.0.0.1:9", key))
    with pytest.raises(ArtifactFetchError, match="holds external_account credentials; supported: service_account"):
        fetcher({"type": "gcs/object", "reference": "gs://manifests/app.yaml"})
