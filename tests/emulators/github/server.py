"""A GitHub API emulator speaking the repository contents API, for `github/file` fetch tests.

Serves `GET /repos/{owner}/{repo}/contents/{path}?ref=...` as GitHub does: a file is JSON with base64
`content` (wrapped at 60 characters) and a `download_url`; files above `inline_limit` bytes come with empty
content and encoding `none`, so clients must follow `download_url`; a directory is a JSON list. Files come
from a dict (`{"owner/repo": {ref: {path: bytes}}}`) or from local git repositories (`{"owner/repo": path}`).
With a `token`, requests must carry `Authorization: token <token>` (or `Bearer`), else 401 "Bad credentials".
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.emulators.github.local_http import LocalHttpServer, Reply, Request

Files = Mapping[str, Mapping[str, Mapping[str, bytes]]]


class GitHubEmulator:
    """`with GitHubEmulator(files=..., token=...) as github:` — the API root is `github.url`."""

    def __init__(
        self,
        *,
        files: Files | None = None,
        git_repos: Mapping[str, Path] | None = None,
        token: str | None = None,
        default_branch: str = "master",
        inline_limit: int = 1024 * 1024,
    ):
        self.files = files or {}
        self.git_repos = git_repos or {}
        self.token = token
        self.default_branch = default_branch
        self.inline_limit = inline_limit
        self.server = LocalHttpServer(self._handle)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[Request]:
        return self.server.requests

    def contents_url(self, repo: str, path: str) -> str:
        return f"{self.url}/repos/{repo}/contents/{path}"

    def __enter__(self) -> GitHubEmulator:
        self.server.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.__exit__(exc_type, exc, tb)

    def _handle(self, request: Request) -> Reply:
        if self.token and request.header("Authorization") not in (f"token {self.token}", f"Bearer {self.token}"):
            return _json(401, {"message": "Bad credentials"})
        parts = request.path.strip("/").split("/")
        if len(parts) >= 4 and parts[0] == "repos" and parts[3] == "contents":
            repo, path = f"{parts[1]}/{parts[2]}", "/".join(parts[4:])
            return self._contents(repo, request.param("ref") or self.default_branch, path)
        if len(parts) >= 5 and parts[0] == "raw":
            repo, ref, path = f"{parts[1]}/{parts[2]}", parts[3], "/".join(parts[4:])
            content = self._tree(repo, ref).get(path)
            return Reply(200, content) if content is not None else _json(404, {"message": "Not Found"})
        return _json(404, {"message": "Not Found"})

    def _contents(self, repo: str, ref: str, path: str) -> Reply:
        tree = self._tree(repo, ref)
        if path in tree:
            return _json(200, self._file_entry(repo, ref, path, tree[path], inline=True))
        prefix = f"{path}/" if path else ""
        children = sorted({p[len(prefix) :].split("/")[0] for p in tree if p.startswith(prefix)})
        if not children:
            return _json(404, {"message": "Not Found"})
        listing = []
        for name in children:
            child = prefix + name
            if child in tree:
                listing.append(self._file_entry(repo, ref, child, tree[child], inline=False))
            else:
                listing.append({"type": "dir", "name": name, "path": child})
        return _json(200, listing)

    def _file_entry(self, repo: str, ref: str, path: str, content: bytes, *, inline: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "type": "file",
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "size": len(content),
            "sha": hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest(),
            "download_url": f"{self.url}/raw/{repo}/{ref}/{path}",
        }
        if inline:
            small = len(content) <= self.inline_limit
            encoded = base64.b64encode(content).decode() if small else ""
            entry["encoding"] = "base64" if small else "none"
            entry["content"] = "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60))
        return entry

    def _tree(self, repo: str, ref: str) -> Mapping[str, bytes]:
        if repo in self.git_repos:
            return _git_tree(self.git_repos[repo], ref)
        return self.files.get(repo, {}).get(ref, {})


def _git_tree(repository: Path, ref: str) -> dict[str, bytes]:
    listed = subprocess.run(
        ["git", "-C", str(repository), "ls-tree", "-r", "-z", "--name-only", ref, "--"],
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        return {}
    tree = {}
    for name in filter(None, listed.stdout.decode().split("\0")):
        shown = subprocess.run(["git", "-C", str(repository), "show", f"{ref}:{name}"], capture_output=True, check=True)
        tree[name] = shown.stdout
    return tree


def _json(status: int, body: Any) -> Reply:
    return Reply(status, json.dumps(body).encode(), {"Content-Type": "application/json"})
