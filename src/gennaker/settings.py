"""Settings of a Gennaker process: the environment and the configuration file (`GENNAKER_CONFIG`).

Kept apart from `runtime.py`, which wires the whole system, so that commands that only read the database
(`gennaker execution get`) need not import it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Settings:
    data_dir: Path
    database_url: str
    worker_threads: int = 1
    # Tasks that call another system run at most this many at a time per process: they mostly wait on the
    # network, and more of them in flight lets results that finish together share one transaction.
    external_task_threads: int = 32
    # How long a worker may run an external task before another worker takes the message over.
    task_lease_ms: int = 10 * 60 * 1000
    engine: dict[str, Any] = field(default_factory=dict)
    # The configuration file's content (`GENNAKER_CONFIG`): provider accounts, artifact accounts.
    config: dict[str, Any] = field(default_factory=dict)
    # Server processes (`up`, `worker`) check what each execution's user may do; local commands act as the
    # owner of the database and do not.
    enforce_permissions: bool = False
    # Roles allowed on applications that set no permissions (admins always are).
    default_application_roles: frozenset[str] = frozenset()
    # SQLite's `synchronous` pragma: NORMAL survives a process crash, FULL also a power loss (docs/operations.md).
    sqlite_synchronous: str = "NORMAL"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("GENNAKER_DATA_DIR") or Path.cwd() / ".gennaker").resolve()
        url = env.get("GENNAKER_DATABASE_URL") or f"sqlite:///{data_dir / 'gennaker.db'}"
        lease = _whole_number(env, "GENNAKER_TASK_LEASE_MS", 10 * 60 * 1000, low=1000, high=7 * 24 * 3600 * 1000)
        task_threads = _whole_number(env, "GENNAKER_TASK_THREADS", 32, low=1, high=256)
        config = load_config(Path(env["GENNAKER_CONFIG"])) if env.get("GENNAKER_CONFIG") else {}
        engine = config.get("engine") or {}
        if not isinstance(engine, dict):
            raise ConfigError("GENNAKER_CONFIG: engine must be a mapping")
        roles = frozenset(
            r.strip().lower() for r in env.get("GENNAKER_DEFAULT_APPLICATION_ROLES", "").split(",") if r.strip()
        )
        synchronous = (env.get("GENNAKER_SQLITE_SYNCHRONOUS") or "NORMAL").strip().upper()
        if synchronous not in ("NORMAL", "FULL"):
            raise ConfigError(f"GENNAKER_SQLITE_SYNCHRONOUS: must be NORMAL or FULL, not {synchronous!r}")
        return cls(
            data_dir=data_dir,
            database_url=url,
            task_lease_ms=lease,
            external_task_threads=task_threads,
            config=config,
            engine=engine,
            default_application_roles=roles,
            sqlite_synchronous=synchronous,
        )


class ConfigError(ValueError):
    pass


def _whole_number(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    """A whole-number environment setting within [low, high], or a ConfigError naming it."""
    text = (env.get(name) or "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:  # "²" is a digit to isdigit
        raise ConfigError(f"{name}: must be a whole number from {low} to {high}, not {text!r}")
    return int(text)


def load_config(path: Path) -> dict[str, Any]:
    """The YAML configuration file; a missing or malformed file stops startup with a message naming it."""
    import yaml  # here: a CLI command without a configuration file does not pay for it

    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(f"GENNAKER_CONFIG: cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"GENNAKER_CONFIG: {path} is not valid YAML: {error}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"GENNAKER_CONFIG: {path} must hold a mapping at the top level")
    return loaded
