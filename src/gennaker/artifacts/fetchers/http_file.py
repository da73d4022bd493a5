"""`http/file`: a GET of the `reference` URL, with the account's basic auth or bearer token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gennaker.artifacts.accounts import HttpAccount
from gennaker.artifacts.fetchers.guard import FetchProblem
from gennaker.artifacts.fetchers.http_client import HttpGetter, require_credential_host


def fetch_http_file(artifact: Mapping[str, Any], account: HttpAccount, http: HttpGetter) -> bytes:
    url = str(artifact.get("reference") or "")
    if not url:
        raise FetchProblem("an http/file artifact needs the URL in `reference`")
    require_credential_host(account, url)
    token = account.token_value()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.get(url, headers=headers, auth=account.basic_auth())
