"""``/ws/sync/<run_id>/``: a sync's progress, pushed to its page as htmx fragments.

On connect: the user must be signed in (else closed with 4401) and a member of
the run's team (else 4403); the socket then subscribes to the team's events
(``fanout``: one group membership per team and process, however many pages
are open) and gets a full snapshot from the database. Afterwards it forwards the worker's events,
re-derives the run's state from the database every ``SYNC_WATCH_SECONDS`` (a
dead worker sends no event: the server, not the browser, notices the stall;
the sockets of one process open on the same run share that read), and
switches the page to a newer run of the team when one starts. The page sends
nothing but an occasional snapshot request.
"""

import asyncio
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from integrations.models import SyncRun
from integrations.sync.discrepancies import find_discrepancies, task_for_run
from onboarding import progress_view
from onboarding.fanout import FANOUT
from onboarding.shared_reads import SharedReads

logger = logging.getLogger("onboarding.consumers")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class SyncProgressConsumer(AsyncWebsocketConsumer):
    run_id = None
    team_id = None
    watcher = None
    early = None
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
        # What the page shows; events older than it are dropped.
        self.shown = {"seq": -1, "state": None, "heartbeat_at": None, "discrepancies": None, "at": 0.0}
        self.last_event_seq = -1
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
        self.watcher = asyncio.create_task(self.watch())

    async def disconnect(self, code):
        if self.watcher is not None:
            self.watcher.cancel()
        if getattr(self, "subscribed", False):
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
        """An event from the worker's publisher: a snapshot of this run, or of another run of the team."""
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
            # News is not worth a dead socket: the watcher or the next event brings the truth.
            logger.exception("sync run %s socket: could not forward an event", self.run_id)

    async def forward(self, event):
        seq = event["seq"]
        # An event queued before the connect snapshot is older than what the page shows.
        if seq <= self.last_event_seq or seq < self.shown["seq"]:
            return
        self.last_event_seq = seq
        reviews = await RUN_REVIEWS.get(self.run_id) if event["state"] == "succeeded" else None
        text = progress_view.render_event(event, now=timezone.now(), reviews=reviews, newer_run_id=self.newer_run_id)
        await self.send(text_data=text)
        self.shown.update(seq=seq, state=event["state"], heartbeat_at=event.get("heartbeat_at"))
        self.shown["at"] = asyncio.get_running_loop().time()

    # -- pushing -------------------------------------------------------------
    async def send_snapshot(self, *, shared=False):
        """Push the run as the database has it; ``shared``: as read for this process's sockets moments ago."""
        context = await (RUN_CONTEXTS.get(self.run_id) if shared else load_run_context(self.run_id))
        if context is None:  # the run was deleted
            await self.close(code=CLOSE_FORBIDDEN)
            return
        context = dict(context)
        self.newer_run_id = context["newer_run_id"]
        await self.push(context, context.pop("heartbeat_at_iso", None))

    async def push(self, context, heartbeat_at):
        await self.send(text_data=progress_view.render_update(context))
        self.shown.update(seq=context["seq"], state=context["state"], heartbeat_at=heartbeat_at)
        if context["discrepancies"] is not None:
            self.shown["discrepancies"] = [d["code"] for d in context["discrepancies"]]
        self.shown["at"] = asyncio.get_running_loop().time()

    async def switch_to_newer_run(self):
        context = await self.load_newest_context()
        if context is None or context["run_id"] == self.run_id:
            return
        self.switched = True
        # Replaces the page's live area, websocket included: the browser closes
        # this socket and opens the newer run's, which checks access again.
        await self.send(text_data=progress_view.render_switch(context))

    async def watch(self):
        """Re-derive the run's state from the database; push it when it changes, or when a newer run starts."""
        interval = float(getattr(settings, "SYNC_WATCH_SECONDS", 2))
        # A healthy run that sends no event (waiting out a rate limit) still
        # gets its "last activity" refreshed now and then.
        refresh = max(10.0, 5 * interval)
        loop = asyncio.get_running_loop()
        while not self.switched:
            await asyncio.sleep(interval)
            try:
                facts = await RUN_FACTS.get(self.run_id)
                if facts is None:
                    await self.close(code=CLOSE_FORBIDDEN)
                    return
                state, discrepancies, heartbeat_at, newer = facts
                if newer is not None and newer != self.newer_known:
                    await self.switch_to_newer_run()
                elif (
                    state != self.shown["state"]
                    or discrepancies != self.shown["discrepancies"]
                    or (heartbeat_at != self.shown["heartbeat_at"] and loop.time() - self.shown["at"] >= refresh)
                ):
                    await self.send_snapshot(shared=True)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("sync run %s socket: the watch failed; trying again", self.run_id)

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
def read_run_facts(run_id):
    """(state, discrepancy codes, heartbeat ISO time, newer run id) of the run, or None if it is gone."""
    run = SyncRun.objects.filter(pk=run_id).first()
    if run is None:
        return None
    now = timezone.now()
    state = run.get_state(now)
    discrepancies = find_discrepancies(run, task_for_run(run), now) if state.is_active else []
    heartbeat = run.heartbeat_at.isoformat() if run.heartbeat_at else None
    return state.state, [d["code"] for d in discrepancies], heartbeat, progress_view.newer_run_id(run)


@database_sync_to_async
def load_run_context(run_id):
    """The page's context for the run, read now, or None if the run is gone."""
    run = SyncRun.objects.filter(pk=run_id).first()
    if run is None:
        return None
    context = progress_view.load_progress_context(run, timezone.now())
    context["heartbeat_at_iso"] = run.heartbeat_at.isoformat() if run.heartbeat_at else None
    return context


# Half a watch interval: each run is read at most about twice per interval per process.
def _half_watch_interval():
    return float(getattr(settings, "SYNC_WATCH_SECONDS", 2)) / 2


RUN_FACTS = SharedReads(read_run_facts, max_age=_half_watch_interval)
RUN_CONTEXTS = SharedReads(load_run_context, max_age=_half_watch_interval)
# Every page open on a run that just succeeded shows its reviews count.
RUN_REVIEWS = SharedReads(database_sync_to_async(progress_view.count_reviews), max_age=lambda: 5.0)
