"""`embedded/base64`: the artifact carries its content as base64 in `reference` (what bakes produce)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from gennaker.artifacts.fetchers.guard import FetchProblem


def fetch_embedded(artifact: Mapping[str, Any]) -> bytes:
    reference = artifact.get("reference")
    if not reference:
        raise FetchProblem("an embedded/base64 artifact needs its content in `reference`")
    text = "".join(str(reference).split())
    text += "=" * (-len(text) % 4)
    for alphabet in (None, b"-_"):  # standard, then URL-safe base64
        try:
            return base64.b64decode(text, altchars=alphabet, validate=True)
        except (binascii.Error, ValueError):
            continue
    raise FetchProblem("`reference` is not valid base64")
