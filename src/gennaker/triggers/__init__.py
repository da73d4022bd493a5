"""Triggers: deciding which pipelines an incoming event starts, with Echo's matching rules."""
