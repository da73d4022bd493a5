"""An in-process Kubernetes API server emulator for tests (see docs/testing.md)."""

from .emulator import KubeEmulator

__all__ = ["KubeEmulator"]
