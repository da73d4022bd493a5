"""URL helpers: address checks through an injected resolver, pinned connections (orca.md §4.6).

No test sends a packet anywhere: names resolve through a fake resolver and requests go to a transport that
fails the test unless the request targets the pinned, checked address.
"""

from __future__ import annotations

import httpx
import pytest

from gennaker.expressions import ExpressionError, Expressions, UrlFetcher, UrlPolicy, plain_root

ADDRESSES = {
    "public.example.com": ["93.184.216.34"],
    "metadata.example.com": ["169.254.169.254"],
    "loop.example.com": ["127.0.0.1"],
    "private.example.com": ["10.1.2.3"],
    "mixed.example.com": ["93.184.216.34", "192.168.1.1"],
    "v6.example.com": ["::1"],
}


def resolver(host: str) -> list[str]:
    return ADDRESSES.get(host, [])


def pinned_transport(expected_ip: str, body: bytes) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.host == expected_ip, f"the request must go to the checked address, not {request.url.host}"
        assert request.headers["Host"].startswith("public.example.com")
        return httpx.Response(200, content=body)

    return httpx.MockTransport(handle)


def refusing_transport() -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request may be sent for a refused URL ({request.url})")

    return httpx.MockTransport(handle)


def evaluate(expression: str, transport: httpx.MockTransport, policy: UrlPolicy | None = None) -> object:
    urls = UrlFetcher(policy, resolver=resolver, transport=transport)
    return Expressions(urls=urls).evaluate(expression, plain_root({}))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("http://169.254.169.254/latest/meta-data", "literal IP"),
        ("http://127.0.0.1/", "literal IP"),
        ("http://localhost/", "dotted name"),
        ("http://metadata.example.com/", "169.254.169.254"),
        ("http://loop.example.com/", "loopback"),
        ("http://private.example.com/", "private address"),
        ("http://mixed.example.com/", "private address"),
        ("http://v6.example.com/", "loopback"),
        ("http://build.internal/", "internal host name"),
        ("http://spinnaker.local/", "internal host name"),
        ("http://unknown.example.com/", "does not resolve"),
        ("gopher://public.example.com/", "only http and https"),
    ],
)
def test_refused_urls(url: str, reason: str) -> None:
    with pytest.raises(ExpressionError, match=reason):
        evaluate(f"#fromUrl('{url}')", refusing_transport())


def test_allowed_url_connects_to_the_checked_address_with_the_original_host() -> None:
    transport = pinned_transport("93.184.216.34", b'{"version": "1.2.3"}')
    assert evaluate("#jsonFromUrl('http://public.example.com/v.json')['version']", transport) == "1.2.3"
    assert evaluate("#yamlFromUrl('https://public.example.com/v.yml')", pinned_transport("93.184.216.34", b"a: 1")) == {
        "a": 1
    }
    props = pinned_transport("93.184.216.34", b"# comment\nkey=value\nother: thing\n")
    assert evaluate("#propertiesFromUrl('http://public.example.com/p')", props) == {"key": "value", "other": "thing"}


def test_size_is_bounded_and_redirects_are_not_followed() -> None:
    big = pinned_transport("93.184.216.34", b"x" * 2_000_000)
    with pytest.raises(ExpressionError, match="more than"):
        evaluate("#fromUrl('http://public.example.com/big')", big)

    def redirect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/"})

    with pytest.raises(ExpressionError, match="HTTP 302"):
        evaluate("#fromUrl('http://public.example.com/r')", httpx.MockTransport(redirect))


def test_operators_may_allow_private_ranges_but_never_link_local() -> None:
    open_policy = UrlPolicy(allow_private=True)
    with pytest.raises(AssertionError, match="checked address"):  # allowed: it reaches the (wrong-IP) transport
        evaluate("#fromUrl('http://private.example.com/')", pinned_transport("93.184.216.34", b""), open_policy)
    with pytest.raises(ExpressionError):
        evaluate("#fromUrl('http://metadata.example.com/')", refusing_transport(), open_policy)
