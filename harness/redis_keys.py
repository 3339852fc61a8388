"""A prefix of keys of one set of the app's processes on a Redis database they may share with others."""

import time

import redis


class RedisKeys:
    """The processes' channel layer (``CHANNELS_PREFIX``) and broker (``DRAMATIQ_NAMESPACE``) keys under ``prefix``.

    ``cleanup()`` deletes exactly the keys under the prefix, never anyone else's.
    """

    def __init__(self, url, prefix):
        self.url = url
        self.prefix = prefix

    def env(self):
        """The production-mode variables of a process using these keys."""
        return {
            "REDIS_URL": self.url,
            "CHANNELS_PREFIX": f"{self.prefix}-asgi",
            "DRAMATIQ_NAMESPACE": f"{self.prefix}-dramatiq",
        }

    def holds_message(self, message_id, queue="sync"):
        """Whether the broker holds the message: queued, delayed, or fetched and not yet acknowledged."""
        client = self._client(5)
        try:
            namespace = f"{self.prefix}-dramatiq:{queue}"
            return bool(
                client.hexists(f"{namespace}.msgs", message_id) or client.hexists(f"{namespace}.DQ.msgs", message_id)
            )
        finally:
            client.close()

    def _client(self, timeout):
        return redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=timeout)

    def workers_beating(self, within=None):
        """Dramatiq worker processes in the broker's heartbeats: all of them, or those that beat in the last
        ``within`` seconds (what /healthz and the progress page count as live)."""
        oldest = "-inf" if within is None else (time.time() - within) * 1000
        client = self._client(5)
        try:
            return client.zcount(f"{self.prefix}-dramatiq:__heartbeats__", oldest, "+inf")
        finally:
            client.close()

    def cleanup(self):
        """Delete the keys under the prefix; returns how many there were."""
        client = self._client(10)
        try:
            keys = list(client.scan_iter(f"{self.prefix}*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
            return len(keys)
        finally:
            client.close()
