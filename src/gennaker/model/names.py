"""The rules for what may name an application or a pipeline: one place for the API, the pages, the CLI,
pipeline saves and the store, light enough to import where pydantic is not needed."""

from __future__ import annotations

import re
from typing import Any

# One rule for application names wherever an application is created (API, pages, CLI, pipeline saves).
APPLICATION_NAME = r"^[a-zA-Z][a-zA-Z0-9-]{0,62}$"
APPLICATION_NAME_RULE = "letters, digits and '-', starting with a letter, at most 63 characters"
MAX_NAME_LENGTH = 256


def application_name_problem(name: Any) -> str | None:
    """Why `name` cannot name an application, or None."""
    if not isinstance(name, str) or not re.fullmatch(APPLICATION_NAME, name):
        return f"must be {APPLICATION_NAME_RULE}"
    return None


def pipeline_name_problem(name: str) -> str | None:
    """Why `name` cannot name a pipeline: it appears in URLs, on command lines and on pages."""
    if len(name) > MAX_NAME_LENGTH:
        return f"must have at most {MAX_NAME_LENGTH} characters"
    if name != name.strip():
        return "must not start or end with white space"
    if name.startswith("-"):
        return "must not start with '-'"
    if any(ord(c) < 32 or ord(c) == 127 or c in "/\\" for c in name):
        return "must not contain control characters, '/' or '\\'"
    return None
