"""Signals this app sends; receivers live in the apps above it (sessions_app revokes the
live console sessions of a window that closed), so nothing here imports upwards."""

from django.dispatch import Signal

# Sent (after the change is saved, inside its transaction) when approved windows end,
# on time or early: `request_ids`, the requests whose windows closed.
window_closed = Signal()
