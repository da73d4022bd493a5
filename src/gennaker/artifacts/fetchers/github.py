"""`github/file`: a file through GitHub's contents API.

`reference` is the contents URL (`{baseUrl}/repos/{owner}/{repo}/contents/{path}`; a relative
`{owner}/{repo}/contents/{path}` is joined to the account's `baseUrl`) and `version` the ref (default
`master`, as in Clouddriver). Small files come base64-encoded in the JSON answer; larger ones are fetched
from its `download_url`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gennaker.artifacts.accounts import GitHubAccount
from gennaker.artifacts.fetchers.guard import FetchProblem
from gennaker.artifacts.fetchers.http_client import HttpGetter, redact_url, require_credential_host


def fetch_github_file(artifact: Mapping[str, Any], account: GitHubAccount, http: HttpGetter) -> bytes:
    url = contents_url(str(artifact.get("reference") or ""), account.baseUrl)
    params = {} if "ref" in parse_qs(urlsplit(url).query) else {"ref": str(artifact.get("version") or "master")}
    require_credential_host(account, url)
    headers = {"Accept": "application/vnd.github+json", **_auth_header(account)}
    answer = _json(http.get(url, headers=headers, auth=account.basic_auth(), params=params), url)
    if isinstance(answer, list) or answer.get("type", "file") != "file":
        raise FetchProblem(f"{redact_url(url)} is not a file")
    content = answer.get("content")
    if answer.get("encoding") == "base64" and isinstance(content, str) and (content or answer.get("size") == 0):
        try:
            return base64.b64decode("".join(content.split()))
        except (binascii.Error, ValueError) as exc:
            raise FetchProblem(f"{redact_url(url)} returned invalid base64 content: {exc}") from None
    download = answer.get("download_url")
    if not download:
        raise FetchProblem(f"{redact_url(url)} returned neither content nor a download_url")
    require_credential_host(account, str(download))
    return http.get(str(download), headers=_auth_header(account), auth=account.basic_auth())


def contents_url(reference: str, base_url: str) -> str:
    if not reference:
        raise FetchProblem("a github/file artifact needs the contents API URL in `reference`")
    if reference.startswith(("http://", "https://")):
        return reference
    path = reference.lstrip("/")
    return f"{base_url.rstrip('/')}/{path if path.startswith('repos/') else 'repos/' + path}"


def _auth_header(account: GitHubAccount) -> dict[str, str]:
    token = account.token_value()
    return {"Authorization": f"token {token}"} if token else {}


def _json(body: bytes, url: str) -> Any:
    try:
        answer = json.loads(body)
    except ValueError:
        raise FetchProblem(f"{redact_url(url)} did not return JSON") from None
    if not isinstance(answer, dict | list):
        raise FetchProblem(f"{redact_url(url)} returned unexpected JSON")
    return answer
