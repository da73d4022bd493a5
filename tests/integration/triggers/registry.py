"""A real Docker registry for tests (Debian's `docker-registry`, CNCF Distribution), on 127.0.0.1.

- `DockerRegistry`: the registry with its storage in a temporary directory; no authentication, htpasswd (Basic)
  or token authentication against `TokenServer`.
- `TokenServer`: a token service as the registry's token authentication expects: it checks Basic
  credentials and issues RS256 JWTs carrying its self-signed certificate (`x5c`), which the registry trusts
  through `rootcertbundle`.
- `FaultProxy`: a reverse proxy in front of a registry that can answer an HTTP status or hang instead.
- `push_image`: an image pushed through the Registry API (two blobs and a manifest), returning its digest.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import secrets
import shutil
import socket
import subprocess
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def available() -> bool:
    return Path(REGISTRY).exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def htpasswd_line(user: str, password: str) -> str:
    """A bcrypt htpasswd entry (the registry accepts only bcrypt), made with the C library's crypt(3)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))  # cost 4: fast tests
    if not hashed or not hashed.startswith("$2"):
        raise RuntimeError("this system's crypt(3) cannot make bcrypt hashes")
    return f"{user}:{hashed}\n"


class TokenServer:
    """`GET /token?service=&scope=`: a JWT for the requested scopes when the Basic credentials are right (or,
    with `anonymous_pull`, a pull-only token without credentials). Records each request's credentials."""

    issuer = "gennaker-test-issuer"

    def __init__(self, directory: Path, users: dict[str, str], host: str = "127.0.0.1", anonymous_pull: bool = False):
        self.users = users
        self.host = host
        self.anonymous_pull = anonymous_pull
        self.requests: list[dict[str, Any]] = []
        self.lifetime_s = 300
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gennaker-test-token-issuer")])
        now = datetime.datetime.now(datetime.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(self._key, hashes.SHA256())
        )
        self.cert_path = directory / "token-ca.pem"
        self.cert_path.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def realm(self) -> str:
        return f"http://{self.host}:{self.port}/token"

    def __enter__(self) -> TokenServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def token(self, user: str, service: str, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode()],
        }
        claims = {
            "iss": self.issuer,
            "sub": user,
            "aud": service,
            "exp": now + self.lifetime_s,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                user = _basic_user(self.headers.get("Authorization"), server.users)
                server.requests.append(
                    {"authorization": self.headers.get("Authorization"), "user": user, "query": query}
                )
                scopes = query.get("scope", [])
                if user is None and not (server.anonymous_pull and all(s.endswith(":pull") for s in scopes)):
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                token = server.token(user or "", query.get("service", [""])[0], scopes)
                body = json.dumps({"token": token, "expires_in": server.lifetime_s}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


class DockerRegistry:
    """`docker-registry serve` on 127.0.0.1 with storage in `directory`."""

    def __init__(
        self,
        directory: Path,
        htpasswd: dict[str, str] | None = None,
        token: TokenServer | None = None,
        service: str = "gennaker-test-registry",
    ):
        self.directory = directory
        self.port = free_port()
        self.service = service
        self.token_server = token
        self.users = htpasswd or {}
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(directory / "storage")}, "delete": {"enabled": True}},
            "http": {"addr": f"127.0.0.1:{self.port}", "secret": secrets.token_hex(16)},
        }
        if htpasswd:
            path = directory / "htpasswd"
            path.write_text("".join(htpasswd_line(user, password) for user, password in htpasswd.items()))
            config["auth"] = {"htpasswd": {"realm": "gennaker-test", "path": str(path)}}
        elif token is not None:
            config["auth"] = {
                "token": {
                    "realm": token.realm,
                    "service": service,
                    "issuer": token.issuer,
                    "rootcertbundle": str(token.cert_path),
                }
            }
        self.config_path = directory / "registry.yml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = directory / "registry.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        """What image names start with: `127.0.0.1:<port>`."""
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> DockerRegistry:
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen([REGISTRY, "serve", str(self.config_path)], stdout=log, stderr=log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/v2/", timeout=1).status_code in (200, 401):
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not start: {self.log_path.read_text()[-2000:]}")

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def pusher(self) -> httpx.Client:
        """A client allowed to push: Basic credentials of the first htpasswd user, or a push token."""
        headers: dict[str, str] = {}
        if self.users:
            user, password = next(iter(self.users.items()))
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def push(self, repository: str, tag: str, content: bytes, media_type: str = DOCKER_V2) -> str:
        with self.pusher() as client:
            if self.token_server is not None:
                scope = f"repository:{repository}:pull,push"
                token = self.token_server.token("pusher", self.service, [scope])
                client.headers["Authorization"] = f"Bearer {token}"
            return push_image(client, repository, tag, content, media_type)


def push_image(client: httpx.Client, repository: str, tag: str, content: bytes, media_type: str = DOCKER_V2) -> str:
    """Upload a layer holding `content`, an image config and a manifest tagged `tag`; the manifest's digest."""
    layer_digest = _upload(client, repository, content)
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}
    ).encode()
    config_digest = _upload(client, repository, config)
    oci = media_type == OCI_MANIFEST
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json"
            if oci
            else "application/vnd.docker.container.image.v1+json",
            "size": len(config),
            "digest": config_digest,
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"
                if oci
                else "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": len(content),
                "digest": layer_digest,
            }
        ],
    }
    body = json.dumps(manifest).encode()
    response = client.put(f"/v2/{repository}/manifests/{tag}", content=body, headers={"Content-Type": media_type})
    response.raise_for_status()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    assert response.headers["docker-content-digest"] == digest
    return digest


def _upload(client: httpx.Client, repository: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    started = client.post(f"/v2/{repository}/blobs/uploads/")
    started.raise_for_status()
    location = started.headers["location"]
    target = location + ("&" if "?" in location else "?") + f"digest={digest}"
    client.put(target, content=data, headers={"Content-Type": "application/octet-stream"}).raise_for_status()
    return digest


class FaultProxy:
    """Forwards to `upstream` while `mode` is "pass"; answers `status` for "status", waits `hang_s` for "hang";
    with `only` set, faults apply only to paths containing it."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.mode = "pass"
        self.status = 500
        self.hang_s = 3.0
        self.only: str | None = None
        self.hits = 0
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                proxy.hits += 1
                faulty = proxy.only is None or proxy.only in self.path
                if proxy.mode == "hang" and faulty:
                    proxy._release.wait(proxy.hang_s)
                    return
                if proxy.mode == "status" and faulty:
                    body = b'{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}'
                    self.send_response(proxy.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else None
                answer = httpx.request(self.command, proxy.upstream + self.path, headers=headers, content=data)
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.content)

            do_GET = do_HEAD = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _basic_user(header: str | None, users: dict[str, str]) -> str | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user if users.get(user) == password and secrets.compare_digest(users[user], password) else None
