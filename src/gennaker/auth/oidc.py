"""OpenID Connect sign-in for the UI: the authorization code flow with PKCE (S256), `state` and `nonce`.

`start` gives the provider's authorization URL and a signed, short-lived value for a cookie holding the
state, nonce, PKCE verifier, redirect URI and the page to return to. `finish` checks the callback against
that cookie, exchanges the code at the token endpoint (authlib's httpx client), and validates the ID token
(signature with the provider's JWKS, issuer, audience, expiry, nonce) before deriving the user's name and
roles. Every failure is an `OidcError` whose message can be shown to the user.

ID tokens are validated with joserfc, the JOSE library authlib depends on and recommends instead of its
deprecated `authlib.jose`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:  # authlib and joserfc (13 MB with cryptography) are imported when OIDC is used, not at start-up
    from authlib.integrations.httpx_client import OAuth2Client
    from joserfc.jwk import KeySet

from gennaker.auth.external import AuthConfigError, GroupRoles, valid_external_name
from gennaker.auth.identity import Identity

log = logging.getLogger("gennaker.auth.oidc")

STATE_COOKIE = "gennaker_oidc"
STATE_TTL_S = 600
CLOCK_SKEW_S = 60
DISCOVERY_TTL_S = 3600
# Asymmetric signatures only: a token signed with a shared secret (HS256) or unsigned is refused.
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


class OidcError(Exception):
    """A sign-in that did not succeed; the message is meant for the login page."""


def _string(section: Mapping[str, Any], key: str, default: str | None = None) -> str | None:
    value = section.get(key, default)
    if value is not None and not isinstance(value, str):
        raise AuthConfigError(f"auth.oidc.{key} must be a string")
    return value or default


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str | None = None
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    username_claim: str = "preferred_username"
    groups_claim: str = "groups"
    roles: GroupRoles = field(default_factory=GroupRoles)
    redirect_uri: str | None = None
    name: str = "OpenID Connect"
    timeout_s: float = 10.0

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> OidcConfig:
        issuer, client_id = _string(section, "issuer"), _string(section, "clientId")
        if not issuer or not issuer.startswith(("https://", "http://")):
            raise AuthConfigError("auth.oidc.issuer must be the provider's URL, e.g. https://login.example.com")
        if not client_id:
            raise AuthConfigError("auth.oidc.clientId is required")
        scopes = section.get("scopes", "openid profile email")
        if isinstance(scopes, str):
            scopes = scopes.split()
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise AuthConfigError("auth.oidc.scopes must be a list of scopes or a space-separated string")
        if "openid" not in scopes:
            scopes = ["openid", *scopes]
        timeout = section.get("timeoutSeconds", 10)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise AuthConfigError("auth.oidc.timeoutSeconds must be a positive number")
        return cls(
            issuer=issuer.rstrip("/"),
            client_id=client_id,
            client_secret=_string(section, "clientSecret"),
            scopes=tuple(scopes),
            username_claim=_string(section, "usernameClaim", "preferred_username") or "preferred_username",
            groups_claim=_string(section, "groupsClaim", "groups") or "groups",
            roles=GroupRoles.from_config(section, "auth.oidc"),
            redirect_uri=_string(section, "redirectUri"),
            name=_string(section, "name", "OpenID Connect") or "OpenID Connect",
            timeout_s=float(timeout),
        )


@dataclass(frozen=True)
class Provider:
    """The parts of the discovery document the flow uses."""

    issuer: str  # exactly as the provider spells it (ID tokens carry it so)
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]
    token_auth_methods: tuple[str, ...]


@dataclass(frozen=True)
class OidcStart:
    url: str  # the provider's authorization URL to redirect to
    cookie: str  # the signed flow state, for STATE_COOKIE


@dataclass(frozen=True)
class OidcResult:
    identity: Identity
    next: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claim(claims: Mapping[str, Any], name: str) -> Any:
    """A claim by name, else by dotted path into nested objects (`realm_access.roles`)."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


class OidcLogin:
    def __init__(self, config: OidcConfig, clock: Callable[[], float] = time.time):
        self.config = config
        self._clock = clock
        # The state cookie's signing key: derived from the client secret, so every Gennaker process of one
        # installation accepts it; random (valid for this process) for a public client.
        secret = config.client_secret
        self._key = (
            hmac.new(secret.encode(), b"gennaker oidc state cookie", hashlib.sha256).digest()
            if secret
            else secrets.token_bytes(32)
        )
        self._lock = threading.Lock()
        self._provider: tuple[float, Provider] | None = None
        self._keys: tuple[float, KeySet] | None = None

    @property
    def name(self) -> str:
        return self.config.name

    # -- provider metadata -------------------------------------------------------------------------
    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = httpx.get(url, timeout=self.config.timeout_s, follow_redirects=False)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as error:
            log.warning("OIDC %s at %s failed: %s", what, url, type(error).__name__)
            raise OidcError(f"The sign-in provider {self.name} cannot be reached; try again later.") from None
        if not isinstance(document, dict):
            raise OidcError(f"The sign-in provider {self.name} answered with an invalid {what}.")
        return document

    def provider(self) -> Provider:
        with self._lock:
            if self._provider and self._provider[0] > self._clock():
                return self._provider[1]
        document = self._get_json(f"{self.config.issuer}/.well-known/openid-configuration", "discovery")
        if str(document.get("issuer", "")).rstrip("/") != self.config.issuer:
            log.warning("OIDC discovery names issuer %r, configured %r", document.get("issuer"), self.config.issuer)
            raise OidcError(f"The sign-in provider {self.name} is misconfigured (issuer mismatch).")
        endpoints = {k: document.get(k) for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")}
        if not all(isinstance(e, str) and e for e in endpoints.values()):
            raise OidcError(f"The sign-in provider {self.name} is misconfigured (incomplete discovery document).")
        offered = document.get("id_token_signing_alg_values_supported") or ["RS256"]
        methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        provider = Provider(
            issuer=str(document["issuer"]),
            authorization_endpoint=str(endpoints["authorization_endpoint"]),
            token_endpoint=str(endpoints["token_endpoint"]),
            jwks_uri=str(endpoints["jwks_uri"]),
            algorithms=tuple(a for a in ID_TOKEN_ALGORITHMS if a in offered) or ("RS256",),
            token_auth_methods=tuple(str(m) for m in methods),
        )
        with self._lock:
            self._provider = (self._clock() + DISCOVERY_TTL_S, provider)
        return provider

    def _key_set(self, provider: Provider, refresh: bool = False) -> KeySet:
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        with self._lock:
            # Refetched on demand (a key the cached set lacks), at most once a minute.
            if self._keys and (not refresh or self._keys[0] > self._clock() - 60):
                return self._keys[1]
        try:
            keys = KeySet.import_key_set(self._get_json(provider.jwks_uri, "JWKS"))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as error:
            log.warning("OIDC JWKS of %s is unusable: %s", self.config.issuer, type(error).__name__)
            raise OidcError(f"The sign-in provider {self.name} published unusable signing keys.") from None
        with self._lock:
            self._keys = (self._clock(), keys)
        return keys

    # -- the flow ----------------------------------------------------------------------------------
    def _client(self, provider: Provider, redirect_uri: str) -> OAuth2Client:
        from authlib.integrations.httpx_client import OAuth2Client

        method = "none"
        if self.config.client_secret:
            supported = provider.token_auth_methods
            method = "client_secret_post" if "client_secret_basic" not in supported else "client_secret_basic"
        return OAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            token_endpoint_auth_method=method,
            scope=" ".join(self.config.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=self.config.timeout_s,
        )

    def _sign(self, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return body + "." + _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def _unsign(self, value: str | None) -> dict[str, Any] | None:
        body, _, signature = (value or "").partition(".")
        if not body or not signature:
            return None
        expected = _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature):
            return None
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int | float):
            return None
        return payload if payload["exp"] > self._clock() else None

    def start(self, redirect_uri: str, next_page: str) -> OidcStart:
        """Where to send the browser, and the cookie to set alongside (STATE_COOKIE, STATE_TTL_S)."""
        provider = self.provider()
        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        with self._client(provider, redirect_uri) as client:
            url, _ = client.create_authorization_url(
                provider.authorization_endpoint, state=state, code_verifier=verifier, nonce=nonce
            )
        payload = {
            "state": state,
            "nonce": nonce,
            "verifier": verifier,
            "redirect": redirect_uri,
            "next": next_page,
            "exp": int(self._clock()) + STATE_TTL_S,
        }
        return OidcStart(url, self._sign(payload))

    def finish(self, params: Mapping[str, str], cookie: str | None) -> OidcResult:
        """The signed-in identity from the callback's query parameters and the flow's cookie."""
        from authlib.integrations.base_client import OAuthError

        flow = self._unsign(cookie)
        if flow is None:
            raise OidcError("Your sign-in attempt expired or was started in another browser; please sign in again.")
        if not hmac.compare_digest(str(params.get("state") or ""), str(flow["state"])):
            log.warning("OIDC callback with a state that does not match the sign-in attempt")
            raise OidcError("The sign-in response does not match your sign-in attempt (state); please sign in again.")
        if params.get("error"):
            description = str(params.get("error_description") or "")[:200]
            log.info("OIDC provider refused the sign-in: %s %s", params["error"], description)
            reason = str(params["error"])[:100] + (f": {description}" if description else "")
            raise OidcError(f"{self.name} refused the sign-in ({reason}).")
        code = params.get("code")
        if not code:
            raise OidcError("The sign-in response carries no authorization code; please sign in again.")
        provider = self.provider()
        try:
            with self._client(provider, str(flow["redirect"])) as client:
                token = client.fetch_token(provider.token_endpoint, code=code, code_verifier=str(flow["verifier"]))
        except OAuthError as error:
            log.warning("OIDC token request refused: %s", error.error)
            raise OidcError(f"{self.name} refused the sign-in code ({error.error}); please sign in again.") from None
        except Exception as error:  # transport errors of authlib's HTTP client, malformed answers
            log.warning("OIDC token request to %s failed: %s", provider.token_endpoint, type(error).__name__)
            raise OidcError(f"The sign-in provider {self.name} cannot be reached; try again later.") from None
        id_token = token.get("id_token") if isinstance(token, Mapping) else None
        if not isinstance(id_token, str):
            raise OidcError(f"{self.name} returned no ID token; is the 'openid' scope allowed for this client?")
        claims = self.validate(id_token, str(flow["nonce"]), provider)
        return OidcResult(self.identity(claims), str(flow["next"]))

    def validate(self, id_token: str, nonce: str, provider: Provider | None = None) -> dict[str, Any]:
        """The ID token's claims, if its signature, issuer, audience, expiry and nonce are right."""
        from joserfc import jwt
        from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError, MissingClaimError

        provider = provider or self.provider()
        try:
            decoded = jwt.decode(id_token, self._key_set(provider), algorithms=list(provider.algorithms))
        except (JoseError, ValueError):
            try:  # perhaps the provider rotated its keys
                keys = self._key_set(provider, refresh=True)
                decoded = jwt.decode(id_token, keys, algorithms=list(provider.algorithms))
            except (JoseError, ValueError) as error:
                log.warning("OIDC ID token refused: bad signature or format (%s)", type(error).__name__)
                raise OidcError("The identity provider's ID token is not valid (signature).") from None
        claims = dict(decoded.claims)
        registry = jwt.JWTClaimsRegistry(
            now=int(self._clock()),
            leeway=CLOCK_SKEW_S,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": self.config.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            log.warning("OIDC ID token refused: expired")
            raise OidcError("The identity provider's ID token has expired; please sign in again.") from None
        except (InvalidClaimError, MissingClaimError) as error:
            name = getattr(error, "claim", None) or str(error.description)
            log.warning("OIDC ID token refused: %s", error.description)
            raise OidcError(f"The identity provider's ID token is not valid ({name}).") from None
        except JoseError as error:
            log.warning("OIDC ID token refused: %s", error.description)
            raise OidcError("The identity provider's ID token is not valid.") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.config.client_id:
            raise OidcError("The identity provider's ID token is not valid (azp).")
        return claims

    def identity(self, claims: Mapping[str, Any]) -> Identity:
        username = next(
            (
                v
                for v in (claim(claims, self.config.username_claim), claims.get("email"), claims.get("sub"))
                if isinstance(v, str) and v
            ),
            "",
        )
        if not valid_external_name(username):
            raise OidcError("Your account at the identity provider has no usable user name.")
        groups = claim(claims, self.config.groups_claim)
        if isinstance(groups, str):
            groups = [groups]
        names = [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else []
        roles, is_admin = self.config.roles.resolve(names)
        return Identity(username, roles, is_admin, source="oidc")
