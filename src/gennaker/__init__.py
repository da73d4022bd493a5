"""Gennaker: continuous delivery in one process, compatible with Spinnaker pipelines."""

__version__ = "0.1.0"
