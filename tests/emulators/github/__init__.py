"""A GitHub contents-API emulator and small local HTTP/git helpers for artifact tests (127.0.0.1 only)."""

from tests.emulators.github.git import commit_files, make_bare_repo
from tests.emulators.github.local_http import LocalHttpServer, Reply, Request, text_reply
from tests.emulators.github.server import GitHubEmulator

__all__ = ["GitHubEmulator", "LocalHttpServer", "Reply", "Request", "commit_files", "make_bare_repo", "text_reply"]
