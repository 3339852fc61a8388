"""Embedded mode: which messages this process's in-memory broker received.

The embedded broker lives in the web process: it holds what this process
enqueued since it started, nothing else. ``integrations.sync.lost`` asks here
whether a waiting run's message can still arrive. (No model imports: the
middleware is loaded before the apps are ready.)
"""

from datetime import UTC, datetime

from dramatiq import Middleware

PROCESS_STARTED = datetime.now(UTC)
_message_ids = set()


class RememberEnqueued(Middleware):
    def after_enqueue(self, broker, message, delay):
        _message_ids.add(message.message_id)


def enqueued_here(message_id):
    return message_id in _message_ids
