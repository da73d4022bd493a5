"""Static files of the UI: our CSS and JS, and front-end packages copied from npm by `web/build.mjs`."""

from pathlib import Path

STATIC = Path(__file__).parent
