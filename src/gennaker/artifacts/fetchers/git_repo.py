"""`git/repo`: a `.tar.gz` of a repository at a ref, optionally limited to a sub path (what Clouddriver returns).

`reference` is the clone URL, `version` the branch, tag or commit (default `master`, as in Clouddriver; if
the repository has no `master` and no version was given, its default branch), and `metadata.subPath` (or
`location`) the directory or file to include. Archive paths stay relative to the repository root, as with
`git archive`.

Each repository URL has one bare cache repository, guarded by an exclusive `flock` on a lock file next to
it, so concurrent fetches (threads or processes) of one repository take turns while different repositories
proceed in parallel. Fetches are shallow; the archive is made from the fetched commit, so no work tree is
checked out. Credentials reach git through environment variables, never the command line or the URL.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import gzip
import hashlib
import os
import re
import shlex
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from gennaker.artifacts.accounts import GitRepoAccount
from gennaker.artifacts.fetchers.guard import ConnectGuard, FetchProblem
from gennaker.artifacts.fetchers.http_client import redact_url

DEFAULT_BRANCH = "master"
_COMMITISH = re.compile(r"[0-9a-fA-F]{7,64}")


class GitRepoFetcher:
    """Fetches `git/repo` artifacts through the `git` command line and a per-URL cache."""

    def __init__(
        self, cache_root: Path, *, git: str = "git", timeout_s: float = 300.0, guard: ConnectGuard | None = None
    ):
        self.cache_root = cache_root
        self.git = git
        self.timeout_s = timeout_s
        self.guard = guard

    def fetch(self, artifact: Mapping[str, Any], account: GitRepoAccount) -> bytes:
        url = str(artifact.get("reference") or "")
        if not url:
            raise FetchProblem("a git/repo artifact needs the repository URL in `reference`")
        if url.startswith("-"):
            raise FetchProblem("the repository URL must not start with '-'")
        if self.guard is not None:
            self.guard(url)
        version = str(artifact.get("version") or "")
        sub_path = _sub_path(artifact)
        env = _git_env(url, account)
        repo = self._cache_dir(url)
        with _exclusive(repo.with_suffix(".lock")):
            if not (repo / "HEAD").exists():
                self._run(["init", "--quiet", "--bare", str(repo)], env, url)
            commit = self._fetch_commit(repo, url, version, env)
            tar = self._run(
                ["-C", str(repo), "archive", "--format=tar", commit, "--", *([sub_path] if sub_path else [])], env, url
            )
        return gzip.compress(tar, mtime=0)

    def _cache_dir(self, url: str) -> Path:
        self.cache_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.cache_root.stat().st_uid != os.getuid():
            raise FetchProblem(f"the git cache {self.cache_root} belongs to another user")
        return self.cache_root / (hashlib.sha256(url.encode()).hexdigest()[:40] + ".git")

    def _fetch_commit(self, repo: Path, url: str, version: str, env: dict[str, str]) -> str:
        """The commit id for `version`, fetched into the cache (shallow when it names a branch or tag)."""
        ref = version or DEFAULT_BRANCH
        try:
            self._run(["-C", str(repo), "fetch", "--quiet", "--no-tags", "--depth=1", url, ref], env, url)
            return self._commit(repo, "FETCH_HEAD", env, url)
        except FetchProblem as problem:
            if not version:
                self._run(["-C", str(repo), "fetch", "--quiet", "--no-tags", "--depth=1", url, "HEAD"], env, url)
                return self._commit(repo, "FETCH_HEAD", env, url)
            if not _COMMITISH.fullmatch(version):
                raise FetchProblem(f"cannot fetch ref {version} of {redact_url(url)}: {problem}") from None
        return self._fetch_commit_id(repo, url, version, env)

    def _fetch_commit_id(self, repo: Path, url: str, commit: str, env: dict[str, str]) -> str:
        """A commit named by (a prefix of) its id: fetch all branches and tags, then look it up."""
        with contextlib.suppress(FetchProblem):
            return self._commit(repo, commit, env, url)
        shallow = self._run(["-C", str(repo), "rev-parse", "--is-shallow-repository"], env, url).strip() == b"true"
        refspecs = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
        self._run(
            ["-C", str(repo), "fetch", "--quiet", *(["--unshallow"] if shallow else []), url, *refspecs], env, url
        )
        try:
            return self._commit(repo, commit, env, url)
        except FetchProblem:
            raise FetchProblem(f"commit {commit} is not in {redact_url(url)}") from None

    def _commit(self, repo: Path, name: str, env: dict[str, str], url: str) -> str:
        out = self._run(
            ["-C", str(repo), "rev-parse", "--verify", "--quiet", "--end-of-options", f"{name}^{{commit}}"], env, url
        )
        return out.decode().strip()

    def _run(self, args: list[str], env: dict[str, str], url: str) -> bytes:
        command = [self.git, "-c", "gc.auto=0", "-c", "core.hooksPath=/dev/null", *args]
        try:
            done = subprocess.run(command, env=env, capture_output=True, timeout=self.timeout_s, check=False)
        except FileNotFoundError:
            raise FetchProblem(f"the git executable {self.git!r} was not found") from None
        except subprocess.TimeoutExpired:
            raise FetchProblem(
                f"git {args[2] if args[0] == '-C' else args[0]} timed out after {self.timeout_s:g} s"
            ) from None
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
            raise FetchProblem(message.replace(url, redact_url(url))[-2000:])
        return done.stdout


def _sub_path(artifact: Mapping[str, Any]) -> str:
    metadata = artifact.get("metadata") or {}
    raw = str((metadata.get("subPath") if isinstance(metadata, Mapping) else None) or artifact.get("location") or "")
    path = PurePosixPath(raw.strip("/")) if raw.strip("/") else None
    if path is None:
        return ""
    if ".." in path.parts or raw.startswith("-"):
        raise FetchProblem(f"the sub path {raw!r} must stay inside the repository")
    return str(path)


def _git_env(url: str, account: GitRepoAccount) -> dict[str, str]:
    """A non-interactive environment carrying the account's credentials for this URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "LC_ALL": "C", "GIT_CONFIG_NOSYSTEM": "1"}
    )
    # Transports a repository URL may use; `ext::` (runs a command) and the like are never allowed.
    env["GIT_ALLOW_PROTOCOL"] = "https:http:ssh:git:file"
    secret = _http_secret(account)
    if url.startswith(("http://", "https://")) and secret:
        user, password = secret
        header = base64.b64encode(f"{user}:{password}".encode()).decode()
        env.update({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader"})
        env["GIT_CONFIG_VALUE_0"] = f"Authorization: Basic {header}"
    if account.sshPrivateKeyFilePath:
        ssh = ["ssh", "-i", account.sshPrivateKeyFilePath, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]
        if account.sshKnownHostsFilePath:
            ssh += ["-o", f"UserKnownHostsFile={account.sshKnownHostsFilePath}"]
        if account.sshTrustUnknownHosts:
            ssh += ["-o", "StrictHostKeyChecking=no"]
        env["GIT_SSH_COMMAND"] = shlex.join(ssh)
    return env


def _http_secret(account: GitRepoAccount) -> tuple[str, str] | None:
    basic = account.basic_auth()
    if basic:
        return basic
    token = account.token_value()
    return (account.username or "token", token) if token else None


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An exclusive advisory lock; each call opens its own descriptor, so threads exclude each other too."""
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
