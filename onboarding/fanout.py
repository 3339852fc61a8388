"""One channel-layer subscription per team and process; the process hands each event to its own sockets.

Two hundred pages open on a team's sync in one web process would otherwise
be two hundred members of the team's group: every event copied two hundred
times into Redis and popped back one round trip at a time, the last page
served a hundred milliseconds after the first. Here the process joins the
group once per team (a ``Hub``), receives each event once, and passes it to
every socket of that team it holds.

A hub lives while its team has a socket in the process and belongs to one
event loop. It joins the group again every
``SYNC_FANOUT_RENEW_SECONDS``: the layer forgets members after a day, and a
restarted Redis forgets them at once. When the layer failed and the hub
joined again, each of its sockets sends its page a fresh snapshot from the
database: events sent meanwhile were lost.
"""

import asyncio
import logging

from channels.layers import get_channel_layer
from django.conf import settings

from integrations.sync.progress import team_group

logger = logging.getLogger("onboarding.fanout")

# After the channel layer failed, the next try waits this long (then twice as long, up to the maximum).
RETRY_SECONDS, MAX_RETRY_SECONDS = 0.5, 10.0


class Hub:
    """The team's group membership of this process, and the sockets it feeds."""

    def __init__(self, team_id, layer):
        self.team_id = team_id
        self.layer = layer
        self.group = team_group(team_id)
        self.sockets = set()
        self.channel = None
        self.task = None
        self.ready = asyncio.get_running_loop().create_future()

    def start(self):
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"fanout {self.group}")

    async def stop(self):
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        if self.channel is not None:
            try:
                await self.layer.group_discard(self.group, self.channel)
            except Exception:
                logger.warning("%s: could not leave the group; it expires on its own", self.group, exc_info=True)

    async def _run(self):
        delay = RETRY_SECONDS
        failed = False
        while True:
            try:
                if self.channel is None:
                    self.channel = await self.layer.new_channel()
                await self.layer.group_add(self.group, self.channel)
                if not self.ready.done():
                    self.ready.set_result(True)
                if failed:
                    failed = False
                    await self.refresh()
                renewing = asyncio.get_running_loop().create_task(self._renew())
                try:
                    while True:
                        await self.hand_out(await self.layer.receive(self.channel))
                        delay = RETRY_SECONDS
                finally:
                    renewing.cancel()
            except asyncio.CancelledError:
                raise
            except Exception:
                failed = True
                if not self.ready.done():
                    self.ready.set_result(False)  # sockets go on without events until the layer is back
                logger.warning("%s: the channel layer failed; trying again in %.1f s", self.group, delay, exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)

    async def _renew(self):
        """Join the group again now and then: a restarted Redis, or a day gone by, forgets members."""
        while True:
            await asyncio.sleep(float(settings.SYNC_FANOUT_RENEW_SECONDS))
            try:
                await self.layer.group_add(self.group, self.channel)
            except Exception:
                logger.warning("%s: could not renew the group membership", self.group, exc_info=True)

    async def refresh(self):
        """After the layer failed: each socket sends its page the truth it may have missed."""
        results = await asyncio.gather(
            *(socket.send_snapshot() for socket in list(self.sockets)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, Exception):
                logger.error("%s: a socket could not refresh its page", self.group, exc_info=result)

    async def hand_out(self, message):
        sockets = list(self.sockets)
        if not sockets:
            return
        results = await asyncio.gather(*(socket.sync_progress(message) for socket in sockets), return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                logger.error("%s: a socket failed on an event", self.group, exc_info=result)


class Fanout:
    """The hubs of this process, by event loop and team."""

    def __init__(self):
        self._hubs = {}

    async def join(self, team_id, socket):
        """Feed ``socket`` the team's events (``socket.sync_progress(message)``). True once subscribed."""
        loop = asyncio.get_running_loop()
        self._forget_closed_loops()
        hub = self._hubs.get((loop, team_id))
        if hub is None:
            layer = get_channel_layer()
            if layer is None:
                return False
            hub = self._hubs[(loop, team_id)] = Hub(team_id, layer)
            hub.start()
        hub.sockets.add(socket)
        return await asyncio.shield(hub.ready)

    async def leave(self, team_id, socket):
        loop = asyncio.get_running_loop()
        hub = self._hubs.get((loop, team_id))
        if hub is None:
            return
        hub.sockets.discard(socket)
        if not hub.sockets:
            del self._hubs[(loop, team_id)]  # a socket joining from now on starts a new hub
            await hub.stop()

    def members(self, team_id):
        """How many sockets of this loop the team's hub feeds (0: no hub)."""
        hub = self._hubs.get((asyncio.get_running_loop(), team_id))
        return len(hub.sockets) if hub else 0

    def _forget_closed_loops(self):
        for key in [key for key in self._hubs if key[0].is_closed()]:
            del self._hubs[key]


FANOUT = Fanout()
