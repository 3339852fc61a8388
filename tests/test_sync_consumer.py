"""The progress websocket: who may connect, snapshot first, events rendered in order, only the team's own.

The sockets go through the same stack as ``project.asgi`` (origin check, auth,
routing); importing ``project.asgi`` itself would start the embedded worker
thread inside the test process. The event tests run on the in-memory layer
and on the real Redis layer.
"""

import asyncio
import logging
import re
import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from integrations.models import GitHubIntegration, SyncRun, SyncRunRepository, TrackedRepository
from integrations.sync.progress import run_snapshot, send_event, team_group
from integrations.sync.start import start_sync
from integrations.sync.watcher import Watcher
from onboarding import consumers
from onboarding.routing import websocket_urlpatterns
from tests.onboarding_base import make_team, make_user

pytestmark = pytest.mark.django_db(transaction=True)

APPLICATION = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))


@pytest.fixture(params=["memory", "redis"])
def layer(request, settings):
    """The channel layer the test runs on: in-memory, or Redis under a prefix of its own."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [url], "prefix": f"test-consumer-{uuid.uuid4().hex[:12]}"},
            }
        }
    return request.param


@pytest.fixture(autouse=True)
def quiet_watch(settings):
    """The state watch every minute: a test that wants it sooner says so."""
    settings.SYNC_WATCH_SECONDS = 60
    settings.SYNC_STALL_SECONDS = 45


@pytest.fixture
def acme():
    """(user, team, run): a running run of two repositories, its heartbeat fresh."""
    user = make_user("ada")
    team = make_team("Acme", user)
    for github_id, name in ((1, "acme/api"), (2, "acme/web")):
        TrackedRepository.objects.create(team=team, github_id=github_id, full_name=name)
    now = timezone.now()
    run = SyncRun.objects.create(
        team=team, reason="onboarding", started_at=now, heartbeat_at=now, heartbeat_note="acme/api: page 1 of 4"
    )
    for repo in team.repositories.all():
        SyncRunRepository.objects.create(run=run, repository=repo, prs_total=40)
    return user, team, run


def session_of(user):
    """A signed-in session's key for ``user`` (sync: call it before the async scenario)."""
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def socket(run_id, session=None):
    """A websocket to run ``run_id``'s progress, signed in with ``session`` (``session_of(user)``) if given."""
    headers = [(b"origin", b"http://127.0.0.1")]
    if session is not None:
        headers.append((b"cookie", f"sessionid={session}".encode()))
    return WebsocketCommunicator(APPLICATION, f"/ws/sync/{run_id}/", headers=headers)


async def opened(run_id, session):
    """A signed-in socket on run ``run_id`` whose connect snapshot has arrived (and was read)."""
    communicator = socket(run_id, session)
    connected, _ = await communicator.connect()
    assert connected
    await communicator.receive_from(timeout=5)
    return communicator


def seq_of(message):
    return int(re.search(r'<section id="sync-state" data-run="\d+" data-seq="(\d+)"', message).group(1))


def event_for(run, **changes):
    """The worker's event for ``run`` after ``changes`` to its row: a snapshot with the next seq."""
    SyncRun.objects.filter(pk=run.pk).update(event_seq=run.event_seq + 1, **changes)
    run.refresh_from_db()
    return run_snapshot(run)


def run_async(scenario):
    async_to_sync(scenario)()


def test_an_anonymous_socket_is_closed_with_4401(acme):
    _, _, run = acme

    async def scenario():
        communicator = socket(run.pk)
        connected, _ = await communicator.connect()
        assert connected
        assert (await communicator.receive_output(timeout=3))["code"] == 4401
        # A frame that slips in before the close earns nothing.
        await communicator.send_to(text_data='{"type": "snapshot"}')
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()

    run_async(scenario)


def test_a_user_outside_the_runs_team_is_closed_with_4403(acme):
    _, _, run = acme
    intruder = make_user("mallory")
    make_team("Globex", intruder)
    session = session_of(intruder)

    async def scenario():
        for run_id in (run.pk, run.pk + 1000):  # another team's run, and no run at all
            communicator = socket(run_id, session)
            connected, _ = await communicator.connect()
            assert connected
            assert (await communicator.receive_output(timeout=3))["code"] == 4403
            await communicator.disconnect()

    run_async(scenario)


def test_the_first_message_is_a_snapshot_from_the_database(acme, layer):
    user, _, run = acme
    session = session_of(user)
    SyncRun.objects.filter(pk=run.pk).update(event_seq=7, members_synced=5)
    run.repository_rows.filter(repository__full_name="acme/api").update(status="syncing", prs_synced=12)

    async def scenario():
        communicator = socket(run.pk, session)
        connected, _ = await communicator.connect()
        assert connected
        snapshot = await communicator.receive_from(timeout=5)
        assert seq_of(snapshot) == 7
        assert 'data-state="running"' in snapshot
        assert 'id="sync-repos"' in snapshot
        assert "12 of 40" in snapshot and "Members synced: <span" in snapshot
        await communicator.disconnect()

    run_async(scenario)


def test_events_arrive_rendered_once_each_in_order_and_older_ones_are_dropped(acme, layer):
    user, team, run = acme
    session = session_of(user)

    async def scenario():
        communicator = socket(run.pk, session)
        await communicator.connect()
        assert seq_of(await communicator.receive_from(timeout=5)) == 0
        stale = await sync_to_async(run_snapshot)(run)
        for synced in (10, 20, 30):
            rows = run.repository_rows.filter(repository__full_name="acme/api")
            await sync_to_async(rows.update)(prs_synced=synced)
            event = await sync_to_async(event_for)(run)
            assert await sync_to_async(send_event)(run.pk, team.pk, event)
        for seq, synced in ((1, 10), (2, 20), (3, 30)):
            message = await communicator.receive_from(timeout=5)
            assert seq_of(message) == seq
            assert f"{synced} of 40" in message
        # An event older than what the page shows is not sent.
        assert await sync_to_async(send_event)(run.pk, team.pk, stale)
        assert await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()

    run_async(scenario)


def test_another_teams_events_never_arrive(acme, layer):
    user, _, run = acme
    session = session_of(user)
    other = make_team("Globex", make_user("mallory"))
    TrackedRepository.objects.create(team=other, github_id=9, full_name="globex/secret-plans")
    other_run = SyncRun.objects.create(team=other, reason="onboarding", started_at=timezone.now())
    other_run.repositories.set(other.repositories.all())

    async def scenario():
        communicator = await opened(run.pk, session)
        event = await sync_to_async(event_for)(other_run)
        assert await sync_to_async(send_event)(other_run.pk, other.pk, event)
        assert await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()

    run_async(scenario)


def test_malformed_client_messages_are_ignored_and_logged(acme, caplog):
    user, team, run = acme
    session = session_of(user)

    async def scenario():
        communicator = await opened(run.pk, session)
        for text in ("not json", "[1, 2]", '{"type": "shutdown"}', '{"type": null}'):
            await communicator.send_to(text_data=text)
        await communicator.send_to(bytes_data=b"\x00\xff")
        assert await communicator.receive_nothing(timeout=0.3)
        # Still alive: a snapshot on request, and the worker's events.
        await communicator.send_to(text_data='{"type": "snapshot"}')
        assert seq_of(await communicator.receive_from(timeout=5)) == 0
        event = await sync_to_async(event_for)(run)
        await sync_to_async(send_event)(run.pk, team.pk, event)
        assert seq_of(await communicator.receive_from(timeout=5)) == 1
        await communicator.disconnect()

    with caplog.at_level(logging.WARNING, logger="onboarding.consumers"):
        run_async(scenario)
    ignored = [r for r in caplog.records if "ignored a malformed client message" in r.getMessage()]
    assert len(ignored) == 5


def test_a_run_whose_worker_died_is_pushed_as_stalled_by_the_watcher(acme, settings):
    user, _, run = acme
    session = session_of(user)
    settings.SYNC_STALL_SECONDS = 1

    async def scenario():
        communicator = socket(run.pk, session)
        await communicator.connect()
        assert 'data-state="running"' in await communicator.receive_from(timeout=5)
        # The worker is gone: nothing more comes from it. The watcher notices.
        await asyncio.sleep(1.2)
        await sync_to_async(Watcher(auto_recover=False).check)()
        pushed = await communicator.receive_from(timeout=5)
        assert 'data-state="stalled"' in pushed
        assert "The worker stopped responding" in pushed
        assert "No worker is running" in pushed and 'data-action="skip"' in pushed
        await communicator.disconnect()

    run_async(scenario)


def test_a_reconnect_gets_the_truth_it_missed(acme):
    user, _, run = acme
    session = session_of(user)

    async def scenario():
        first = socket(run.pk, session)
        await first.connect()
        assert 'data-state="running"' in await first.receive_from(timeout=5)
        await first.disconnect()
        # While nobody listens, the run finishes (its events went nowhere).
        now = timezone.now()
        await sync_to_async(SyncRun.objects.filter(pk=run.pk).update)(
            outcome="succeeded", finished_at=now, heartbeat_at=now, event_seq=9
        )
        second = socket(run.pk, session)
        await second.connect()
        snapshot = await second.receive_from(timeout=5)
        assert seq_of(snapshot) == 9
        assert 'data-state="succeeded"' in snapshot and "Everything is synced." in snapshot
        await second.disconnect()

    run_async(scenario)


def test_a_newer_run_of_the_team_takes_over_the_page(acme, layer):
    user, team, run = acme
    session = session_of(user)
    GitHubIntegration.objects.create(team=team, organization_login="acme")

    async def scenario():
        communicator = await opened(run.pk, session)
        # Retry from another tab: no worker has said anything about it yet.
        newer = await sync_to_async(start_sync)(team, [], reason="retry", enqueue=False)
        switch = await communicator.receive_from(timeout=5)
        assert f'<div id="sync-live" hx-ext="ws" ws-connect="/ws/sync/{newer.pk}/"' in switch
        assert 'data-state="queued"' in switch
        await communicator.disconnect()

    run_async(scenario)


def test_an_event_of_a_newer_run_takes_over_the_page(acme, layer):
    user, team, run = acme
    session = session_of(user)

    async def scenario():
        communicator = await opened(run.pk, session)
        newer = await sync_to_async(SyncRun.objects.create)(team=team, reason="admin", started_at=timezone.now())
        event = await sync_to_async(event_for)(newer)
        assert await sync_to_async(send_event)(newer.pk, team.pk, event)
        switch = await communicator.receive_from(timeout=5)
        assert f'ws-connect="/ws/sync/{newer.pk}/"' in switch
        assert await communicator.receive_nothing(timeout=0.3)  # the old socket says no more
        await communicator.disconnect()

    run_async(scenario)


def test_each_event_reaches_the_layer_once(acme, layer):
    _, team, run = acme

    async def scenario():
        channel_layer = get_channel_layer()
        channel = await channel_layer.new_channel()
        await channel_layer.group_add(team_group(team.pk), channel)
        event = await sync_to_async(event_for)(run)
        assert await sync_to_async(send_event)(run.pk, team.pk, event)
        assert (await channel_layer.receive(channel))["event"]["seq"] == event["seq"]
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(channel_layer.receive(channel), timeout=0.5)

    run_async(scenario)


def test_an_open_socket_reads_nothing_while_no_event_comes(acme, monkeypatch):
    """Stalls are the watcher's to find: a page's socket polls nothing, however long it stays open."""
    user, _, run = acme
    session = session_of(user)
    reads = []
    load = consumers.load_run_context

    async def counted(run_id):
        reads.append(run_id)
        return await load(run_id)

    monkeypatch.setattr(consumers, "load_run_context", counted)

    async def scenario():
        sockets = [await opened(run.pk, session) for _ in range(5)]
        connected = len(reads)
        await asyncio.sleep(2)
        for communicator in sockets:
            await communicator.disconnect()
        return connected

    assert async_to_sync(scenario)() == 5  # one snapshot each on connect
    assert len(reads) == 5


async def group_size(group):
    """How many channels the layer holds in ``group`` (in memory, or in Redis as channels-redis keeps it)."""
    channel_layer = get_channel_layer()
    if hasattr(channel_layer, "groups"):
        return len(channel_layer.groups.get(group, {}))
    connection = channel_layer.connection(channel_layer.consistent_hash(group))
    return await connection.zcard(channel_layer._group_key(group))


def test_a_process_joins_the_teams_group_once_however_many_pages_are_open(acme, layer):
    user, team, run = acme
    session = session_of(user)

    async def scenario():
        sockets = [await opened(run.pk, session) for _ in range(20)]
        assert await group_size(team_group(team.pk)) == 1
        event = await sync_to_async(event_for)(run)
        assert await sync_to_async(send_event)(run.pk, team.pk, event)
        for communicator in sockets:
            assert seq_of(await communicator.receive_from(timeout=5)) == event["seq"]
        for communicator in sockets:
            await communicator.disconnect()
        assert await group_size(team_group(team.pk)) == 0
        assert consumers.FANOUT.members(team.pk) == 0

    run_async(scenario)


def test_events_come_back_after_redis_forgot_the_group(acme, settings, redis_url):
    """A restarted Redis has no groups: the process joins again within SYNC_FANOUT_RENEW_SECONDS."""
    user, team, run = acme
    session = session_of(user)
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": f"test-consumer-{uuid.uuid4().hex[:12]}"},
        }
    }
    settings.SYNC_FANOUT_RENEW_SECONDS = 0.3

    async def scenario():
        communicator = await opened(run.pk, session)
        channel_layer = get_channel_layer()
        group = team_group(team.pk)
        await channel_layer.connection(channel_layer.consistent_hash(group)).delete(channel_layer._group_key(group))
        assert await group_size(group) == 0
        await asyncio.sleep(1)
        event = await sync_to_async(event_for)(run)
        assert await sync_to_async(send_event)(run.pk, team.pk, event)
        assert seq_of(await communicator.receive_from(timeout=5)) == event["seq"]
        await communicator.disconnect()

    run_async(scenario)


def test_an_event_arriving_while_the_page_connects_follows_its_snapshot(acme, monkeypatch):
    """Subscribed before the snapshot is read: an event in between is held, then sent after it."""
    user, team, run = acme
    session = session_of(user)
    read = consumers.load_run_context
    gate = {}

    async def slow_snapshot(run_id):
        context = await read(run_id)  # read before the event below
        gate["read"].set()
        await gate["open"].wait()
        return context

    monkeypatch.setattr(consumers, "load_run_context", slow_snapshot)

    def held_events():
        """The connecting socket's held events (it subscribed before reading its snapshot)."""
        return [message for hub in consumers.FANOUT._hubs.values() for page in hub.sockets for message in page.early]

    async def scenario():
        gate["open"], gate["read"] = asyncio.Event(), asyncio.Event()
        communicator = socket(run.pk, session)
        connected, _ = await communicator.connect()
        assert connected
        await asyncio.wait_for(gate["read"].wait(), timeout=5)
        deadline = asyncio.get_running_loop().time() + 5
        event = await sync_to_async(event_for)(run)
        assert await sync_to_async(send_event)(run.pk, team.pk, event)
        while not held_events():
            assert asyncio.get_running_loop().time() < deadline, "the event never reached the socket"
            await asyncio.sleep(0.01)
        gate["open"].set()
        assert seq_of(await communicator.receive_from(timeout=5)) == 0  # the snapshot first
        assert seq_of(await communicator.receive_from(timeout=5)) == event["seq"]
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()

    run_async(scenario)
