"""An OpenID Connect provider for tests (see server.py)."""
