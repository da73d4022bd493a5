"""`git/repo`: a `.tar.gz` of a repository at a ref, optionally limited to a sub path (what Clouddriver returns).

`reference` is the clone URL, `version` the branch, tag or commit (default `master`, as in Clouddriver; if
the repository has no `master` and no version was given, its default branch), and `metadata.subPath` (or
`location`) the directory or file to include. Archive paths stay relative to the repository root, as with
`git archive`.

Each repository URL has one bare cache repository, guarded by an exclusive `flock` on a lock file next to
it, so concurrent fetches (threads or processes) of one repository take turns while different repositories
proceed in parallel. Fetches are shallow; the archive is made from the fetched commit, so no work tree is
checked out. Credentials reach git through environment variables, never the command line or the URL.

Everything from the artifact is data, never an option: the URL and version may not start with `-`, and
`--end-of-options` precedes them on every command line. Local repositories (`file://` URLs and plain paths)
are read only under the directories the configuration names (`outbound.localGitPaths`), since a pipeline
author could otherwise read any repository the server's user can.
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
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from gennaker.artifacts.accounts import GitRepoAccount
from gennaker.artifacts.fetchers.guard import ConnectGuard, FetchProblem
from gennaker.artifacts.fetchers.http_client import redact_url, require_credential_host

DEFAULT_BRANCH = "master"
_COMMITISH = re.compile(r"[0-9a-fA-F]{7,64}")


class GitRepoFetcher:
    """Fetches `git/repo` artifacts through the `git` command line and a per-URL cache."""

    def __init__(
        self,
        cache_root: Path,
        *,
        git: str = "git",
        timeout_s: float = 300.0,
        guard: ConnectGuard | None = None,
        local_paths: Sequence[Path] = (),
    ):
        self.cache_root = cache_root
        self.git = git
        self.timeout_s = timeout_s
        self.guard = guard
        self.local_paths = tuple(path.resolve() for path in local_paths)

    def fetch(self, artifact: Mapping[str, Any], account: GitRepoAccount) -> bytes:
        url = str(artifact.get("reference") or "")
        if not url:
            raise FetchProblem("a git/repo artifact needs the repository URL in `reference`")
        if url.startswith("-"):
            raise FetchProblem("the repository URL must not start with '-'")
        local = _local_path(url)
        if local is not None:
            self._check_local(local, url)
        elif self.guard is not None:
            self.guard(url)
        require_credential_host(account, url)
        version = _version(artifact)
        sub_path = _sub_path(artifact)
        env = _git_env(url, account, allow_file=local is not None)
        repo = self._cache_dir(url)
        with _exclusive(repo.with_suffix(".lock")):
            if not (repo / "HEAD").exists():
                self._run(["init", "--quiet", "--bare", str(repo)], env, url)
            commit = self._fetch_commit(repo, url, version, env)
            tar = self._run(
                ["-C", str(repo), "archive", "--format=tar", commit, "--", *([sub_path] if sub_path else [])], env, url
            )
        return gzip.compress(tar, mtime=0)

    def _check_local(self, path: Path, url: str) -> None:
        if not any(path == root or root in path.parents for root in self.local_paths):
            raise FetchProblem(
                f"reading the local repository {url} is not allowed: "
                "list its directory in outbound.localGitPaths to allow it"
            )

    def _cache_dir(self, url: str) -> Path:
        self.cache_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.cache_root.stat().st_uid != os.getuid():
            raise FetchProblem(f"the git cache {self.cache_root} belongs to another user")
        return self.cache_root / (hashlib.sha256(url.encode()).hexdigest()[:40] + ".git")

    def _fetch_commit(self, repo: Path, url: str, version: str, env: dict[str, str]) -> str:
        """The commit id for `version`, fetched into the cache (shallow when it names a branch or tag)."""
        ref = version or DEFAULT_BRANCH
        shallow_fetch = ["-C", str(repo), "fetch", "--quiet", "--no-tags", "--depth=1", "--end-of-options", url]
        try:
            self._run([*shallow_fetch, ref], env, url)
            return self._commit(repo, "FETCH_HEAD", env, url)
        except FetchProblem as problem:
            if not version:
                self._run([*shallow_fetch, "HEAD"], env, url)
                return self._commit(repo, "FETCH_HEAD", env, url)
            if not _COMMITISH.fullmatch(version):
                raise FetchProblem(f"cannot fetch ref {version} of {redact_url(url)}: {problem}") from None
        return self._fetch_commit_id(repo, url, version, env)

    def _fetch_commit_id(self, repo: Path, url: str, commit: str, env: dict[str, str]) -> str:
        """A commit named by (a prefix of) its id: fetch all branches and tags, then look it up."""
        with contextlib.suppress(FetchProblem):
            return self._commit(repo, commit, env, url)
        shallow = self._run(["-C", str(repo), "rev-parse", "--is-shallow-repository"], env, url).strip() == b"true"
        unshallow = ["--unshallow"] if shallow else []
        refspecs = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
        self._run(["-C", str(repo), "fetch", "--quiet", *unshallow, "--end-of-options", url, *refspecs], env, url)
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


def _version(artifact: Mapping[str, Any]) -> str:
    """The branch, tag or commit; refused when git could read it as an option or it holds control characters."""
    version = str(artifact.get("version") or "")
    if version.startswith("-") or any(ord(c) < 32 or c == "\x7f" for c in version):
        raise FetchProblem(f"the version {version!r} is not a branch, tag or commit")
    return version


def _local_path(url: str) -> Path | None:
    """The directory a `file://` URL or a plain path names; None for a remote URL (`scheme://`, `user@host:path`)."""
    if url.startswith("file://"):
        return Path(unquote(urlsplit(url).path)).resolve()
    if "://" in url:
        return None
    head = url.split("/", 1)[0]
    if ":" in head and not url.startswith("/"):
        return None
    return Path(url).resolve()


def _sub_path(artifact: Mapping[str, Any]) -> str:
    metadata = artifact.get("metadata") or {}
    raw = str((metadata.get("subPath") if isinstance(metadata, Mapping) else None) or artifact.get("location") or "")
    path = PurePosixPath(raw.strip("/")) if raw.strip("/") else None
    if path is None:
        return ""
    if ".." in path.parts or raw.startswith("-"):
        raise FetchProblem(f"the sub path {raw!r} must stay inside the repository")
    return str(path)


def _git_env(url: str, account: GitRepoAccount, *, allow_file: bool) -> dict[str, str]:
    """A non-interactive environment carrying the account's credentials for this URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "LC_ALL": "C", "GIT_CONFIG_NOSYSTEM": "1"}
    )
    # Transports a repository URL may use; `ext::` (runs a command) and the like are never allowed, and
    # `file` only for a local repository already checked against the allowed directories.
    env["GIT_ALLOW_PROTOCOL"] = "https:http:ssh:git" + (":file" if allow_file else "")
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
