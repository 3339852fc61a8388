"""``/ws/sync/<run_id>/``: a sync's progress, pushed to its page as htmx fragments.

On connect: the user must be signed in (else closed with 4401) and a member of
the run's team (else 4403); the socket then subscribes to the team's events
(``fanout``: one group membership per team and process, however many pages
are open), gets a full snapshot from the database, and from then on forwards
events. Every state change has an event: the worker's own, and the watcher's
(``integrations.sync.watcher``, the one stall detector) for what a dead worker
cannot say. The socket polls nothing; "last activity N s ago" counts on in
the browser. An event of a newer run of the team switches the page to it.
The page sends nothing but an occasional snapshot request.
"""

import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import timezone

from integrations.models import SyncRun
from onboarding import progress_view
from onboarding.fanout import FANOUT

logger = logging.getLogger("onboarding.consumers")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class SyncProgressConsumer(AsyncWebsocketConsumer):
    run_id = None
    team_id = None
    early = None
    subscribed = False
    # Set once the access check passed: a socket being closed with 4401/4403
    # may still deliver a frame, which must not earn it a snapshot.
    allowed = False

    async def connect(self):
        self.run_id = self.scope["url_route"]["kwargs"]["run_id"]
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accepted first, so the browser sees the code (a refused handshake is only "1006").
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.team_id = await self.team_of_run(user)
        if self.team_id is None:
            await self.accept()
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.allowed = True
        await self.accept()
        self.shown_seq = -1  # events older than what the page shows are dropped
        self.switched = False
        self.newer_run_id = self.newer_known = None
        # Events arriving before the snapshot is sent wait for it (older ones are then dropped).
        self.early = []
        self.subscribed = True
        await FANOUT.join(self.team_id, self)
        await self.send_snapshot()
        # A newer run that already exists is offered as a link; one started from now on is followed.
        self.newer_known = self.newer_run_id
        early, self.early = self.early, None
        for message in early:
            await self.sync_progress(message)

    async def disconnect(self, code):
        if self.subscribed:
            await FANOUT.leave(self.team_id, self)

    async def receive(self, text_data=None, bytes_data=None):
        try:
            message = json.loads(text_data) if text_data is not None else None
        except ValueError:
            message = None
        if not self.allowed:
            return
        if isinstance(message, dict) and message.get("type") == "snapshot":
            await self.send_snapshot()
            return
        logger.warning(
            "sync run %s socket: ignored a malformed client message %.200r", self.run_id, text_data or bytes_data
        )

    # -- channel layer events ------------------------------------------------
    async def sync_progress(self, message):
        """An event: a snapshot of this run, or of another run of the team."""
        event = message.get("event")
        if not self.allowed or self.switched or not isinstance(event, dict):
            return
        if self.early is not None:
            self.early.append(message)
            return
        try:
            if event.get("run_id") == self.run_id:
                await self.forward(event)
            elif isinstance(event.get("run_id"), int) and event["run_id"] > (self.newer_known or self.run_id):
                await self.switch_to_newer_run()
        except Exception:
            # News is not worth a dead socket: the next event, or a reload, brings the truth.
            logger.exception("sync run %s socket: could not forward an event", self.run_id)

    async def forward(self, event):
        seq = event["seq"]
        # An event queued before the connect snapshot is older than what the page shows.
        if seq <= self.shown_seq:
            return
        self.shown_seq = seq
        text = progress_view.render_event(event, now=timezone.now(), newer_run_id=self.newer_run_id)
        await self.send(text_data=text)

    # -- pushing -------------------------------------------------------------
    async def send_snapshot(self):
        """Push the run as the database has it."""
        context = await load_run_context(self.run_id)
        if context is None:  # the run was deleted
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.newer_run_id = context["newer_run_id"]
        await self.send(text_data=progress_view.render_update(context))
        self.shown_seq = max(self.shown_seq, context["seq"])

    async def switch_to_newer_run(self):
        context = await self.load_newest_context()
        if context is None or context["run_id"] == self.run_id:
            return
        self.switched = True
        # Replaces the page's live area, websocket included: the browser closes
        # this socket and opens the newer run's, which checks access again.
        await self.send(text_data=progress_view.render_switch(context))

    # -- database ------------------------------------------------------------
    @database_sync_to_async
    def team_of_run(self, user):
        """The run's team id if ``user`` is a member of that team, else None."""
        team_id = SyncRun.objects.filter(pk=self.run_id).values_list("team_id", flat=True).first()
        if team_id is None or not user.teams.filter(pk=team_id).exists():
            return None
        return team_id

    @database_sync_to_async
    def load_newest_context(self):
        run = SyncRun.objects.filter(team_id=self.team_id).order_by("-created_at", "-pk").first()
        return None if run is None else progress_view.load_progress_context(run, timezone.now())


@database_sync_to_async
def load_run_context(run_id):
    """The page's context for the run, read now, or None if the run is gone."""
    run = SyncRun.objects.filter(pk=run_id).first()
    if run is None:
        return None
    return progress_view.load_progress_context(run, timezone.now())
