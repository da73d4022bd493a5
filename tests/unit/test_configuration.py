"""The configuration file: read once at startup, refused with a message naming the file or key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gennaker.settings import ConfigError, Settings


def settings_with(tmp_path: Path, text: str) -> Settings:
    config = tmp_path / "gennaker.yaml"
    config.write_text(text)
    return Settings.from_env({"GENNAKER_DATA_DIR": str(tmp_path), "GENNAKER_CONFIG": str(config)})


def test_sections_reach_the_settings(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, "engine: {manifest_poll_ms: 250}\nbake: {helmExecutable: /bin/helm}\n")
    assert settings.engine == {"manifest_poll_ms": 250}
    assert settings.config["bake"] == {"helmExecutable": "/bin/helm"}
    assert settings_with(tmp_path, "").config == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("providers: [", "is not valid YAML"),
        ("- a list", "must hold a mapping at the top level"),
        ("engine: 5", "engine must be a mapping"),
    ],
)
def test_bad_files_are_refused_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_with(tmp_path, text)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read .*absent.yaml"):
        Settings.from_env({"GENNAKER_DATA_DIR": str(tmp_path), "GENNAKER_CONFIG": str(tmp_path / "absent.yaml")})
