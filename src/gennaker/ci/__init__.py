"""Continuous-integration servers Gennaker talks to (Jenkins masters, as Spinnaker's Igor does)."""
