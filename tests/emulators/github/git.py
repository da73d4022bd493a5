"""Local git repositories for tests: a bare repository with given files on given branches."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

_IDENTITY = ["-c", "user.name=Gennaker Tests", "-c", "user.email=tests@gennaker.invalid", "-c", "commit.gpgsign=false"]


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *_IDENTITY, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def make_bare_repo(root: Path, branches: Mapping[str, Mapping[str, bytes]], *, default: str = "master") -> Path:
    """A bare repository at `root/repo.git` whose branches hold exactly the given files (path → content).

    The `default` branch is created first and is the repository's HEAD.
    """
    work = root / "work"
    bare = root / "repo.git"
    git("init", "--quiet", "-b", default, str(work))
    ordered = [default, *[b for b in branches if b != default]] if default in branches else list(branches)
    for index, branch in enumerate(ordered):
        git("checkout", "--quiet", "--orphan" if index else "-B", branch, cwd=work)
        git("rm", "-r", "--quiet", "--cached", "--ignore-unmatch", ".", cwd=work)
        for old in work.iterdir():
            if old.name != ".git":
                _remove(old)
        for path, content in branches[branch].items():
            target = work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        git("add", "--all", cwd=work)
        git("commit", "--quiet", "--allow-empty", "-m", f"files of {branch}", cwd=work)
    git("clone", "--quiet", "--bare", str(work), str(bare))
    for branch in ordered:
        git("push", "--quiet", str(bare), f"{branch}:{branch}", cwd=work)
    git("symbolic-ref", "HEAD", f"refs/heads/{default}", cwd=bare)
    return bare


def commit_files(bare: Path, branch: str, files: Mapping[str, bytes], message: str = "more") -> str:
    """Add a commit with `files` on `branch` of a bare repository; returns its id."""
    work = bare.parent / f"work-{branch}-update"
    if work.exists():
        _remove(work)
    git("clone", "--quiet", "--branch", branch, str(bare), str(work))
    for path, content in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(content)
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "-m", message, cwd=work)
    git("push", "--quiet", "origin", branch, cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
