"""The actor runs where the design says: a worker thread in embedded mode, rundramatiq over Redis in production."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import dramatiq
import pytest
import redis
from django.db import connection
from dramatiq import Worker

from integrations.models import SyncRun
from integrations.sync.start import start_sync
from tests.base import connected_team, point_settings_at
from tests.services import require_postgres, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parent.parent


def test_start_sync_enqueues_and_the_in_process_worker_completes_it(make_emulator, settings):
    server = make_emulator(seed=41, repos=2, prs=(20, 40), members=3)
    point_settings_at(settings, server)
    team = connected_team(server)
    broker = dramatiq.get_broker()
    broker.flush_all()
    worker = Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        run = start_sync(team, list(team.repositories.all()), reason="onboarding")
        run.refresh_from_db()
        assert run.message_id  # the message that carries the run id
        wait_for(lambda: SyncRun.objects.get(pk=run.pk).outcome, timeout=30, message="the worker to finish the run")
    finally:
        worker.stop()
    run.refresh_from_db()
    assert run.get_state().state == "succeeded", run.error
    assert run.attempts == 1


def _subprocess_env(server, redis_url, namespace, settings):
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        REDIS_URL=redis_url,
        DRAMATIQ_NAMESPACE=namespace,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        GITHUB_API_URL=server.url,
        GITHUB_GRAPHQL_URL=f"{server.url}/graphql",
        SYNC_HEARTBEAT_SECONDS="0.5",
        LOG_LEVEL="INFO",
        SECRET_KEY=settings.SECRET_KEY,
        FERNET_KEYS=",".join(settings.FERNET_KEYS),
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def procfile_command(process):
    """The Procfile's command line for ``process``, run with this interpreter."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            argv = shlex.split(command)
            return [sys.executable if argv[0] == "python" else argv[0], *argv[1:]]
    raise AssertionError(f"no {process} line in the Procfile")


def test_the_procfile_worker_over_redis_picks_up_a_queued_sync_and_completes_it(
    make_emulator, settings, redis_url, tmp_path, client
):
    require_postgres()
    server = make_emulator(seed=42, repos=2, prs=(30, 60), members=4)
    point_settings_at(settings, server)
    team = connected_team(server)
    namespace = f"test-{os.getpid()}"
    env = _subprocess_env(server, redis_url, namespace, settings)
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        procfile_command("worker"),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # Enqueued by another process through the Redis broker, as the web app does.
        queued = subprocess.run(
            [sys.executable, "manage.py", "sync_team", team.slug],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert queued.returncode == 0, queued.stderr
        assert "queued" in queued.stdout
        run = SyncRun.objects.get(team=team)

        def finished():
            run.refresh_from_db()
            return run.outcome

        wait_for(finished, timeout=60, message="the worker to finish the run")
        assert run.get_state().state == "succeeded", run.error
        assert run.reason == "cli"
        log.flush()
        output = (tmp_path / "worker.log").read_text()
        assert f"[SYNC_TASK] entry run={run.pk}" in output
        assert "test-token" not in output

        # The health check, in production mode, counts that worker's broker heartbeats.
        settings.EMBEDDED = False
        settings.REDIS_URL = redis_url
        settings.DRAMATIQ_BROKER = {**settings.DRAMATIQ_BROKER, "OPTIONS": {"url": redis_url, "namespace": namespace}}
        health = client.get("/healthz")
        assert health.status_code == 200, health.json()
        assert health.json()["checks"]["workers"]["detail"].endswith("alive")
    finally:
        worker.terminate()
        worker.wait(30)
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{namespace}*"):
            client.delete(key)
        client.close()
