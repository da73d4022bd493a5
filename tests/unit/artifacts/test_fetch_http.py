import base64
from typing import Any

import pytest

from gennaker.artifacts import ArtifactFetchError
from gennaker.artifacts.fetchers import public_only_guard
from gennaker.artifacts.fetchers.guard import FetchProblem
from tests.emulators.github import LocalHttpServer, Reply, Request, text_reply
from tests.unit.artifacts.conftest import MakeFetcher


def test_embedded(make_fetcher: MakeFetcher) -> None:
    fetcher = make_fetcher()
    reference = base64.b64encode(b"kind: ConfigMap\n").decode()
    assert fetcher({"type": "embedded/base64", "name": "m", "reference": reference}) == b"kind: ConfigMap\n"
    with pytest.raises(ArtifactFetchError, match=r"embedded-artifact.*not valid base64"):
        fetcher({"type": "embedded/base64", "reference": "***"})


def _files(request: Request) -> Reply:
    if request.path == "/basic/file.yaml":
        if request.basic_auth() != ("u", "p"):
            return text_reply(401, "who are you")
        return text_reply(200, "basic: true\n")
    if request.path == "/bearer/file.yaml":
        if request.header("Authorization") != "Bearer t0ken":
            return text_reply(403, "no")
        return text_reply(200, "bearer: true\n")
    if request.path == "/moved":
        return Reply(302, b"", {"Location": "/open/file.yaml"})
    if request.path == "/open/file.yaml":
        return text_reply(200, "open: true\n")
    return text_reply(404, "missing")


def section(*origins: str) -> dict[str, Any]:
    """Two http accounts whose credentials belong to `origins`."""
    hosts = list(origins) or ["files.example.org"]
    return {
        "http": {
            "enabled": True,
            "accounts": [
                {"name": "my-http", "username": "u", "password": "p", "hosts": hosts},
                {"name": "bearer", "token": "t0ken", "hosts": hosts},
            ],
        }
    }


def test_http_basic_bearer_and_default_account(make_fetcher: MakeFetcher) -> None:
    with LocalHttpServer(_files) as server:
        fetcher = make_fetcher(section(server.url))
        basic = {"type": "http/file", "reference": f"{server.url}/basic/file.yaml", "artifactAccount": "my-http"}
        assert fetcher(basic) == b"basic: true\n"
        bearer = {"type": "http/file", "reference": f"{server.url}/bearer/file.yaml", "artifactAccount": "bearer"}
        assert fetcher(bearer) == b"bearer: true\n"
        assert fetcher({"type": "http/file", "reference": f"{server.url}/moved"}) == b"open: true\n"
        with pytest.raises(ArtifactFetchError) as caught:
            fetcher({"type": "http/file", "name": "secret", "reference": f"{server.url}/basic/file.yaml"})
    message = str(caught.value)
    assert "no-auth-http-account" in message and "http/file name=secret" in message and "HTTP 401" in message


def test_http_errors_name_account_and_artifact(make_fetcher: MakeFetcher) -> None:
    with LocalHttpServer(_files) as server:
        fetcher = make_fetcher(section(server.url))
        with pytest.raises(ArtifactFetchError, match=r"account my-http: GET .*/nothing returned HTTP 404"):
            fetcher({"type": "http/file", "reference": f"{server.url}/nothing", "artifactAccount": "my-http"})
        with pytest.raises(ArtifactFetchError, match="more than 4 bytes"):
            make_fetcher(section(), max_bytes=4)({"type": "http/file", "reference": f"{server.url}/open/file.yaml"})
    with pytest.raises(ArtifactFetchError, match="does not exist"):
        fetcher({"type": "http/file", "reference": "http://127.0.0.1:9/x", "artifactAccount": "nobody"})
    with pytest.raises(ArtifactFetchError, match=r"may only be sent to http://127\.0\.0\.1:"):
        fetcher({"type": "http/file", "reference": "http://127.0.0.1:9/x", "artifactAccount": "bearer"})
    with pytest.raises(ArtifactFetchError, match="handles http/file, not github/file"):
        fetcher({"type": "github/file", "reference": "http://127.0.0.1:9/x", "artifactAccount": "my-http"})
    with pytest.raises(ArtifactFetchError, match="docker/image artifacts are image references"):
        fetcher({"type": "docker/image", "name": "gcr.io/p/app", "reference": "gcr.io/p/app:1"})


def test_guard_refuses_non_loopback_before_connecting(make_fetcher: MakeFetcher) -> None:
    fetcher = make_fetcher(section())
    with pytest.raises(ArtifactFetchError, match=r"10\.1\.2\.3 is not a loopback address"):
        fetcher({"type": "http/file", "reference": "http://10.1.2.3/file"})
    redirect = LocalHttpServer(lambda r: Reply(302, b"", {"Location": "http://192.0.2.1/elsewhere"}))
    with redirect as server, pytest.raises(ArtifactFetchError, match=r"192\.0\.2\.1 is not a loopback address"):
        fetcher({"type": "http/file", "reference": f"{server.url}/redirect"})


def test_credentials_are_not_sent_across_origins(make_fetcher: MakeFetcher) -> None:
    with LocalHttpServer(lambda r: text_reply(200, "ok")) as other:
        with LocalHttpServer(lambda r: Reply(302, b"", {"Location": other.url + "/x"})) as first:
            fetcher = make_fetcher(section(first.url, other.url))
            assert fetcher({"type": "http/file", "reference": f"{first.url}/a", "artifactAccount": "bearer"}) == b"ok"
        assert first.requests[0].header("Authorization") == "Bearer t0ken"
        assert other.requests[0].header("Authorization") is None


def test_public_only_guard_refuses_non_public_addresses() -> None:
    addresses = {"internal.example.com": ["10.0.0.7"], "public.example.com": ["93.184.216.34"]}
    guard = public_only_guard(resolver=lambda host: addresses[host])
    guard("https://public.example.com/file.yaml")  # allowed; nothing is contacted by the guard
    guard("git@public.example.com:acme/repo.git")
    with pytest.raises(FetchProblem, match=r"non-public address 10\.0\.0\.7"):
        guard("https://internal.example.com/file.yaml")
    with pytest.raises(FetchProblem, match=r"non-public address 10\.0\.0\.7"):
        guard("ssh://git@internal.example.com/acme/repo.git")
    with pytest.raises(FetchProblem, match="local files are refused"):
        guard("/srv/git/repo.git")
