"""Triggers: deciding which pipelines an incoming event starts, with Echo's matching rules."""

# Trigger types that start pipelines today; the others are stored with a warning (model/compatibility.py).
FIRING_TRIGGER_TYPES = ("manual", "webhook", "cron", "pipeline", "git", "docker", "helm", "jenkins")
