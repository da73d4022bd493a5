"""Running a renderer (`helm`, `kubectl kustomize`, or the in-process Helm engine's child) under the bake limits.

The renderer runs in its own process group. Its output is read as it comes: past `max_output_bytes`, or past
the render timeout, the whole group is killed at once, so neither a huge render nor an endless template keeps
memory or a core busy after the bake has failed.
"""

from __future__ import annotations

import contextlib
import os
import resource
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gennaker.bake.errors import BakeError
from gennaker.bake.limits import BakeLimits

MAX_STDERR_BYTES = 64 * 1024  # the start of a renderer's error output is its message; the rest is dropped
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Finished:
    """How a renderer ended: its exit status, its output, and the start of its error output."""

    returncode: int
    stdout: bytes
    stderr: str


def run_limited(
    command: Sequence[str],
    *,
    what: str,
    limits: BakeLimits,
    stdin: bytes = b"",
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    rlimits: Mapping[int, int] | None = None,
) -> Finished:
    """Run `command` to the end, or raise the BakeError of the limit it broke (`what` names the renderer).

    `rlimits` (`resource.RLIMIT_*`: value) are set on the child right after it starts, before it has loaded
    anything; the kernel enforces them even if this process dies.
    """
    deadline = time.monotonic() + limits.render_timeout_s
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise BakeError(f"{what}: the executable {command[0]!r} was not found") from None
    with process:
        try:
            _set_rlimits(process.pid, rlimits or {})
            stdout, stderr = _communicate(process, stdin, deadline, what, limits)
            try:
                process.wait(max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                raise BakeError(_timeout_message(what, limits)) from None
        except BaseException:
            _kill(process)
            raise
    return Finished(process.returncode, stdout, stderr.decode(errors="replace"))


def _communicate(
    process: subprocess.Popen[bytes], stdin: bytes, deadline: float, what: str, limits: BakeLimits
) -> tuple[bytes, bytes]:
    """Feed stdin and read stdout and stderr until both close, without ever buffering more than the limit."""
    assert process.stdin and process.stdout and process.stderr
    out, err = bytearray(), bytearray()
    pending = memoryview(stdin)
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, out)
        selector.register(process.stderr, selectors.EVENT_READ, err)
        if pending:
            os.set_blocking(process.stdin.fileno(), False)
            selector.register(process.stdin, selectors.EVENT_WRITE)
        else:
            process.stdin.close()
        while len(selector.get_map()) > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BakeError(_timeout_message(what, limits))
            for key, _ in selector.select(remaining):
                if key.fileobj is process.stdin:
                    pending = _write(selector, process, pending)
                    continue
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif key.data is out:
                    out += chunk
                    if len(out) > limits.max_output_bytes:
                        raise BakeError(output_too_large(what, limits.max_output_bytes))
                elif len(err) < MAX_STDERR_BYTES:
                    err += chunk[: MAX_STDERR_BYTES - len(err)]
    return bytes(out), bytes(err)


def _write(selector: selectors.BaseSelector, process: subprocess.Popen[bytes], pending: memoryview) -> memoryview:
    assert process.stdin
    try:
        pending = pending[os.write(process.stdin.fileno(), pending[:_CHUNK]) :]
    except BlockingIOError:
        return pending
    except BrokenPipeError:  # the child stopped reading; its exit status says why
        pending = pending[:0]
    if not pending:
        selector.unregister(process.stdin)
        process.stdin.close()
    return pending


def _set_rlimits(pid: int, rlimits: Mapping[int, int]) -> None:
    """Set each limit as soft and hard, within the hard limit this process has (only root could raise it)."""
    for which, value in rlimits.items():
        hard = resource.getrlimit(which)[1]
        cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
        with contextlib.suppress(ProcessLookupError):  # it has already exited
            resource.prlimit(pid, which, (cap, cap))


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the child's whole process group (helm plugins, git…) while the child is not yet reaped, so the group
    id cannot have been reused; then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def output_too_large(what: str, max_bytes: int) -> str:
    return f"{what} produced more than {max_bytes} bytes of manifests (limit: bake.maxOutputBytes)"


def _timeout_message(what: str, limits: BakeLimits) -> str:
    return f"{what} did not finish within {limits.render_timeout_s:g} s (limit: bake.renderTimeoutSeconds)"
