"""Helm chart repository triggers: a poller of `index.yaml` and npm-style SemVer ranges for `version`."""

from gennaker.triggers.helm.poller import HelmPoller, helm_runtime_trigger, helm_trigger_matches
from gennaker.triggers.helm.versions import RangeError, VersionRange

__all__ = ["HelmPoller", "RangeError", "VersionRange", "helm_runtime_trigger", "helm_trigger_matches"]
