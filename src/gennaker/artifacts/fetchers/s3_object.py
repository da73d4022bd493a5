"""`s3/object`: an object from Amazon S3 or an S3-compatible store, read with boto3 (the `gennaker[aws]` extra).

`reference` is `s3://bucket/key` (the `s3://` may be left out, as in Clouddriver) and `version`, when given, the
object's `versionId`. With the account's `apiEndpoint` requests go path-style to that endpoint, signed for
`apiRegion`; otherwise to AWS in `region`.

Every request boto3 sends, retries and region redirects included, is checked just before it leaves: it must go to
the account's endpoint (AWS: an https `*.amazonaws.com` host) and pass the connect guard. boto3 never follows a
`Location`, so a redirecting endpoint cannot carry the signed request elsewhere either.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import partial
from typing import Any

from gennaker.artifacts.accounts import S3Account
from gennaker.artifacts.fetchers.guard import ConnectGuard, FetchProblem
from gennaker.artifacts.fetchers.http_client import require_credential_host

EXTRA_HINT = "pip install 'gennaker[aws]'"
_CHUNK = 64 * 1024


def split_s3_reference(reference: str) -> tuple[str, str]:
    """(bucket, key) of `s3://bucket/key`; the scheme is optional, the key may hold slashes."""
    path = reference.removeprefix("s3://")
    bucket, slash, key = path.partition("/")
    if not bucket or not slash or not key or ("://" in reference and not reference.startswith("s3://")):
        raise FetchProblem(f"an s3/object artifact needs `reference` s3://<bucket>/<key>, not {reference!r}")
    return bucket, key


class S3ObjectFetcher:
    """Reads objects with one boto3 client per account, made on first use and kept (clients are thread-safe)."""

    def __init__(self, guard: ConnectGuard | None, *, timeout_s: float, max_bytes: int):
        self.guard = guard
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def fetch(self, artifact: Mapping[str, Any], account: S3Account) -> bytes:
        bucket, key = split_s3_reference(str(artifact.get("reference") or ""))
        version = str(artifact.get("version") or "")
        where = f"s3://{bucket}/{key}" + (f" (version {version})" if version else "")
        botocore_exceptions = _botocore_exceptions()
        client = self._client(account)
        request: dict[str, str] = {"Bucket": bucket, "Key": key}
        if version:
            request["VersionId"] = version
        try:
            answer = client.get_object(**request)
        except botocore_exceptions.ClientError as exc:
            raise FetchProblem(_client_error(exc.response, bucket, key, version)) from None
        except botocore_exceptions.NoCredentialsError:
            raise FetchProblem(
                f"no AWS credentials for GetObject {where}: the account has no awsAccessKeyId/awsSecretAccessKey "
                "and the default credential chain found none"
            ) from None
        except botocore_exceptions.BotoCoreError as exc:
            raise FetchProblem(f"GetObject {where} failed: {exc}") from None
        body = answer["Body"]
        try:
            length = answer.get("ContentLength")
            if isinstance(length, int) and length > self.max_bytes:
                raise FetchProblem(f"{where} is {length} bytes, more than the limit of {self.max_bytes}")
            return self._bounded(body, where, botocore_exceptions.BotoCoreError)
        finally:
            body.close()

    def _bounded(self, body: Any, where: str, boto_error: type[Exception]) -> bytes:
        content = bytearray()
        try:
            for chunk in body.iter_chunks(_CHUNK):
                content.extend(chunk)
                if len(content) > self.max_bytes:
                    raise FetchProblem(f"{where} is larger than the limit of {self.max_bytes} bytes")
        except (boto_error, OSError) as exc:
            raise FetchProblem(f"reading {where} failed: {exc}") from None
        return bytes(content)

    def _client(self, account: S3Account) -> Any:
        with self._lock:
            client = self._clients.get(account.name)
            if client is None:
                client = self._clients[account.name] = self._new_client(account)
            return client

    def _new_client(self, account: S3Account) -> Any:
        try:
            import boto3.session
            from botocore.config import Config
        except ImportError:
            raise FetchProblem(f"s3/object artifacts need boto3, which is not installed: {EXTRA_HINT}") from None
        keys = account.static_keys()
        region = (account.apiRegion or "us-east-1") if account.apiEndpoint else account.region
        session = boto3.session.Session(
            aws_access_key_id=keys[0] if keys else None,
            aws_secret_access_key=keys[1] if keys else None,
            region_name=region or None,
        )
        config = Config(
            signature_version="s3v4",
            connect_timeout=min(self.timeout_s, 30.0),
            read_timeout=self.timeout_s,
            retries={"mode": "standard", "max_attempts": 3},
            s3={"addressing_style": "path" if account.apiEndpoint else "auto"},
            user_agent_extra="gennaker",
        )
        client = session.client("s3", endpoint_url=account.apiEndpoint, config=config)
        client.meta.events.register("before-send.s3", partial(self.check_request, account))
        return client

    def check_request(self, account: S3Account, request: Any, **_: Any) -> None:
        """botocore's `before-send` hook: refuse a request for another host or an address the guard refuses."""
        url = str(request.url)
        require_credential_host(account, url)
        if self.guard is not None:
            self.guard(url)


def _botocore_exceptions() -> Any:
    try:
        import botocore.exceptions
    except ImportError:
        raise FetchProblem(f"s3/object artifacts need boto3, which is not installed: {EXTRA_HINT}") from None
    return botocore.exceptions


def _client_error(response: Mapping[str, Any], bucket: str, key: str, version: str) -> str:
    error = response.get("Error") or {}
    code = str(error.get("Code") or "")
    message = str(error.get("Message") or "").strip()
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    reference = f"s3://{bucket}/{key}"
    if code == "NoSuchBucket":
        return f"bucket {bucket} does not exist (reference {reference})"
    if code == "NoSuchVersion" or (version and code == "InvalidArgument" and "version" in message.lower()):
        return f"object {reference} has no version {version}"
    if code in ("NoSuchKey", "404") or (status == 404 and not code):
        return f"object {reference} does not exist"
    where = reference + (f" (version {version})" if version else "")
    if isinstance(status, int) and 300 <= status < 400:
        return (
            f"GetObject {where} was answered with a redirect (HTTP {status}); it is not followed: signed "
            "requests go to the account's endpoint only"
        )
    what = f"{code}: {message}" if message else code or "no error code"
    return f"GetObject {where} failed with HTTP {status}: {what}"
