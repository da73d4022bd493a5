"""Pipeline and stage notifications: selection, the outbox and the senders (docs/notifications.md)."""
