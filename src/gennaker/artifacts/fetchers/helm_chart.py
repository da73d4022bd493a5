"""`helm/chart`: a chart archive from the account's chart repository.

`name` is the chart, `version` its version (empty: the first entry of the index, which `helm repo index`
keeps newest first). The archive URL comes from the repository's `index.yaml`; relative URLs are resolved
against the repository. Credentials are only sent to the repository's own origin, like Helm without
`--pass-credentials`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

import yaml

from gennaker.artifacts.accounts import HelmAccount
from gennaker.artifacts.fetchers.guard import FetchProblem
from gennaker.artifacts.fetchers.http_client import HttpGetter, redact_url, require_credential_host

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def fetch_helm_chart(artifact: Mapping[str, Any], account: HelmAccount, http: HttpGetter) -> bytes:
    name = str(artifact.get("name") or "")
    if not name:
        raise FetchProblem("a helm/chart artifact needs the chart name in `name`")
    repository = account.repository.rstrip("/") + "/"
    entry = _entry(_index(http, repository, account), name, str(artifact.get("version") or ""), repository)
    urls = entry.get("urls") or []
    if not urls:
        raise FetchProblem(f"the index of {redact_url(repository)} lists no URL for {name} {entry.get('version')}")
    chart_url = urljoin(repository, str(urls[0]))
    require_credential_host(account, chart_url)
    return http.get(chart_url, auth=account.basic_auth())


def _index(http: HttpGetter, repository: str, account: HelmAccount) -> Mapping[str, Any]:
    body = http.get(urljoin(repository, "index.yaml"), auth=account.basic_auth())
    try:
        index = yaml.load(body, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise FetchProblem(f"the index.yaml of {redact_url(repository)} is not valid YAML: {exc}") from None
    if not isinstance(index, Mapping) or not isinstance(index.get("entries"), Mapping):
        raise FetchProblem(f"the index.yaml of {redact_url(repository)} has no entries")
    return index


def _entry(index: Mapping[str, Any], name: str, version: str, repository: str) -> Mapping[str, Any]:
    entries = [e for e in index["entries"].get(name) or [] if isinstance(e, Mapping)]
    if not entries:
        raise FetchProblem(f"chart {name} is not in repository {redact_url(repository)}")
    if not version:
        return entries[0]
    for entry in entries:
        if str(entry.get("version")) == version:
            return entry
    known = ", ".join(str(e.get("version")) for e in entries[:10])
    raise FetchProblem(f"chart {name} has no version {version} in {redact_url(repository)} (has {known})")
