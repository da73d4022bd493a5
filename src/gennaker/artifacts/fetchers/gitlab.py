"""`gitlab/file`: a file through GitLab's raw file API.

`reference` is `{baseUrl}/api/v4/projects/{id}/repository/files/{path}/raw` (a relative reference is joined
to the account's `baseUrl`), `version` the ref (default `master`, as in Clouddriver), and the token goes in
`PRIVATE-TOKEN`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gennaker.artifacts.accounts import GitLabAccount
from gennaker.artifacts.fetchers.guard import FetchProblem
from gennaker.artifacts.fetchers.http_client import HttpGetter, require_credential_host


def fetch_gitlab_file(artifact: Mapping[str, Any], account: GitLabAccount, http: HttpGetter) -> bytes:
    reference = str(artifact.get("reference") or "")
    if not reference:
        raise FetchProblem("a gitlab/file artifact needs the raw file API URL in `reference`")
    url = (
        reference
        if reference.startswith(("http://", "https://"))
        else f"{account.baseUrl.rstrip('/')}/{reference.lstrip('/')}"
    )
    params = {} if "ref" in parse_qs(urlsplit(url).query) else {"ref": str(artifact.get("version") or "master")}
    require_credential_host(account, url)
    token = account.token_value()
    headers = {"PRIVATE-TOKEN": token} if token else {}
    return http.get(url, headers=headers, auth=account.basic_auth(), params=params)
