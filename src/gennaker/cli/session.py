"""Which server the CLI talks to after `gennaker login`, kept in the user's config directory (mode 0600)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Session:
    url: str
    token: str


def config_file() -> Path:
    base = os.environ.get("GENNAKER_CONFIG_DIR") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config", "gennaker"
    )
    return Path(base) / "cli.json"


def current() -> Session | None:
    """GENNAKER_URL + GENNAKER_TOKEN win over the saved login; None means work locally."""
    if os.environ.get("GENNAKER_URL") and os.environ.get("GENNAKER_TOKEN"):
        return Session(os.environ["GENNAKER_URL"], os.environ["GENNAKER_TOKEN"])
    path = config_file()
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return Session(data["url"], data["token"])


def save(session: Session) -> Path:
    path = config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"url": session.url, "token": session.token}, out)
    return path


def forget() -> bool:
    path = config_file()
    if path.exists():
        path.unlink()
        return True
    return False
