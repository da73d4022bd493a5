"""`s3/object` artifacts against moto's S3 server on 127.0.0.1, which checks every request's signature."""

import sys
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from gennaker.artifacts import ArtifactFetchError, artifact_accounts
from gennaker.artifacts.accounts import S3Account
from gennaker.artifacts.fetchers import ArtifactFetcher, OutboundPolicy, public_only_guard
from gennaker.artifacts.fetchers.guard import FetchProblem
from tests.emulators.cloud_storage import S3Server
from tests.emulators.github import LocalHttpServer, Request, text_reply
from tests.unit.artifacts.conftest import MakeFetcher, local_client

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        server.create_bucket("builds", versioned=True)
        server.create_bucket("plain")
        yield server


def s3_section(endpoint: str, access_key: str, secret_key: str, **extra: Any) -> dict[str, Any]:
    account = {"name": "s3", "apiEndpoint": endpoint, "apiRegion": "us-east-1", **extra}
    account |= {"awsAccessKeyId": access_key, "awsSecretAccessKey": secret_key}
    return {"s3": {"enabled": True, "accounts": [account]}}


def section(s3: S3Server, **extra: Any) -> dict[str, Any]:
    return s3_section(s3.endpoint, s3.access_key, s3.secret_key, **extra)


def test_object_is_fetched_signed_with_the_account_keys(s3: S3Server, make_fetcher: MakeFetcher) -> None:
    s3.put("plain", "deploy/app.yaml", b"kind: Deployment\n")
    fetcher = make_fetcher(section(s3))
    artifact = {"type": "s3/object", "reference": "s3://plain/deploy/app.yaml", "artifactAccount": "s3"}
    assert fetcher(artifact) == b"kind: Deployment\n"
    # The only s3 account is the default one; Clouddriver also accepts the reference without `s3://`.
    assert fetcher({"type": "s3/object", "reference": "plain/deploy/app.yaml"}) == b"kind: Deployment\n"


def test_halconfig_key_names_and_short_aliases_both_work(s3: S3Server, make_fetcher: MakeFetcher) -> None:
    s3.put("plain", "alias.yaml", b"alias\n")
    account = {"name": "short", "apiEndpoint": s3.endpoint, "accessKeyId": s3.access_key}
    account["secretAccessKey"] = s3.secret_key
    fetcher = make_fetcher({"s3": {"accounts": [account]}})
    assert fetcher({"type": "s3/object", "reference": "s3://plain/alias.yaml"}) == b"alias\n"


def test_version_selects_the_object_version(s3: S3Server, make_fetcher: MakeFetcher) -> None:
    first = s3.put("builds", "app/manifest.yaml", b"replicas: 1\n")
    s3.put("builds", "app/manifest.yaml", b"replicas: 2\n")
    fetcher = make_fetcher(section(s3))
    artifact = {"type": "s3/object", "reference": "s3://builds/app/manifest.yaml"}
    assert fetcher(artifact) == b"replicas: 2\n"
    assert fetcher({**artifact, "version": first}) == b"replicas: 1\n"
    with pytest.raises(ArtifactFetchError, match=r"object s3://builds/app/manifest\.yaml has no version 3sL4kqtJ"):
        fetcher({**artifact, "version": "3sL4kqtJlcpXroDTDmJ"})


def test_missing_object_and_bucket_are_named(s3: S3Server, make_fetcher: MakeFetcher) -> None:
    fetcher = make_fetcher(section(s3))
    with pytest.raises(ArtifactFetchError) as missing:
        fetcher({"type": "s3/object", "reference": "s3://plain/nope/app.yaml"})
    assert str(missing.value) == (
        "cannot fetch artifact s3/object reference=s3://plain/nope/app.yaml with account s3: "
        "object s3://plain/nope/app.yaml does not exist"
    )
    with pytest.raises(ArtifactFetchError, match=r"bucket nobucket does not exist \(reference s3://nobucket/a\)"):
        fetcher({"type": "s3/object", "reference": "s3://nobucket/a"})
    with pytest.raises(ArtifactFetchError, match=r"needs `reference` s3://<bucket>/<key>, not 's3://plain'"):
        fetcher({"type": "s3/object", "reference": "s3://plain"})


def test_wrong_secret_is_refused_by_the_server(s3: S3Server, make_fetcher: MakeFetcher) -> None:
    s3.put("plain", "secret.yaml", b"x")
    fetcher = make_fetcher(s3_section(s3.endpoint, s3.access_key, "not-the-secret"))
    with pytest.raises(
        ArtifactFetchError, match=r"account s3: GetObject s3://plain/secret\.yaml failed with HTTP 403: "
    ):
        fetcher({"type": "s3/object", "reference": "s3://plain/secret.yaml"})
    unknown = make_fetcher(s3_section(s3.endpoint, "AKIAUNKNOWN", s3.secret_key))
    with pytest.raises(ArtifactFetchError, match="InvalidAccessKeyId"):
        unknown({"type": "s3/object", "reference": "s3://plain/secret.yaml"})


def test_wrong_account_is_a_clear_error(s3: S3Server, make_fetcher: MakeFetcher) -> None:
    fetcher = make_fetcher(section(s3))
    reference = "s3://plain/deploy/app.yaml"
    with pytest.raises(ArtifactFetchError, match="account no-auth-http-account handles http/file, not s3/object"):
        fetcher({"type": "s3/object", "reference": reference, "artifactAccount": "no-auth-http-account"})
    with pytest.raises(ArtifactFetchError, match="artifact account elsewhere does not exist"):
        fetcher({"type": "s3/object", "reference": reference, "artifactAccount": "elsewhere"})
    with pytest.raises(ArtifactFetchError, match="account s3 handles s3/object, not http/file"):
        fetcher({"type": "http/file", "reference": "http://127.0.0.1:1/x", "artifactAccount": "s3"})
    none = make_fetcher({})
    with pytest.raises(ArtifactFetchError, match="no default account for type s3/object"):
        none({"type": "s3/object", "reference": reference})


def test_signed_requests_never_follow_a_redirect_elsewhere(make_fetcher: MakeFetcher) -> None:
    with LocalHttpServer(lambda request: text_reply(200, "stolen")) as other:

        def redirect(request: Request):  # type: ignore[no-untyped-def]
            return text_reply(307, "", {"Location": f"{other.url}{request.path}"})

        with LocalHttpServer(redirect) as endpoint:
            fetcher = make_fetcher(s3_section(endpoint.url, "AKIAEXAMPLE", "secret"))
            with pytest.raises(ArtifactFetchError, match=r"app\.yaml was answered with a redirect \(HTTP 307\)"):
                fetcher({"type": "s3/object", "reference": "s3://plain/app.yaml"})
    assert endpoint.requests and all(
        "Credential=AKIAEXAMPLE/" in (r.header("Authorization") or "") for r in endpoint.requests
    )
    assert other.requests == []


def test_every_request_is_checked_against_the_account_endpoint() -> None:
    """botocore's `before-send` hook sees the real URL of each request, retries and region redirects included."""
    accounts = artifact_accounts(s3_section("http://127.0.0.1:9000", "AKIAEXAMPLE", "secret"))
    fetcher = ArtifactFetcher(accounts, client_factory=local_client)
    account = accounts.get("s3")
    assert isinstance(account, S3Account)
    fetcher.s3.check_request(account, SimpleNamespace(url="http://127.0.0.1:9000/plain/app.yaml"))
    with pytest.raises(FetchProblem, match=r"may only be sent to http://127\.0\.0\.1:9000, not to http://127\.0\.0\.2"):
        fetcher.s3.check_request(account, SimpleNamespace(url="http://127.0.0.2:9000/plain/app.yaml"))


def test_outbound_guard_applies_to_the_endpoint(s3: S3Server) -> None:
    s3.put("plain", "guarded.yaml", b"guarded\n")
    accounts = artifact_accounts(section(s3))
    artifact = {"type": "s3/object", "reference": "s3://plain/guarded.yaml"}
    refused = ArtifactFetcher(accounts, client_factory=local_client, guard=public_only_guard())
    with pytest.raises(ArtifactFetchError, match=r"is not allowed: 127\.0\.0\.1 is the non-public address"):
        refused(artifact)
    policy = OutboundPolicy.from_config({"allowNetworks": ["127.0.0.0/8"]})
    allowed = ArtifactFetcher(accounts, client_factory=local_client, guard=public_only_guard(policy))
    assert allowed(artifact) == b"guarded\n"


def test_size_limit(s3: S3Server, make_fetcher: MakeFetcher) -> None:
    s3.put("plain", "big.bin", b"0123456789")
    fetcher = make_fetcher(section(s3), max_bytes=4)
    with pytest.raises(ArtifactFetchError, match=r"s3://plain/big\.bin is 10 bytes, more than the limit of 4"):
        fetcher({"type": "s3/object", "reference": "s3://plain/big.bin"})


def test_missing_boto3_names_the_extra(make_fetcher: MakeFetcher, monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("boto3", "boto3.session", "botocore", "botocore.config", "botocore.exceptions"):
        monkeypatch.setitem(sys.modules, module, None)
    fetcher = make_fetcher(s3_section("http://127.0.0.1:9", "AKIAEXAMPLE", "secret"))
    with pytest.raises(ArtifactFetchError, match=r"need boto3, which is not installed: pip install 'gennaker\[aws\]'"):
        fetcher({"type": "s3/object", "reference": "s3://plain/app.yaml"})
