"""sync_status and rotate_fernet_keys: what operators see and change from the shell."""

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from integrations.models import GitHubCredential, SyncRun
from integrations.sync.runner import run_sync
from integrations.sync.start import start_sync
from tests.base import connected_team, point_settings_at
from tests.conftest import TEST_TOKEN
from tests.test_tokens import _reset_field_keys

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def team(make_emulator, settings):
    server = make_emulator(seed=71, repos=2, prs=(5, 10), members=2)
    point_settings_at(settings, server)
    return connected_team(server)


@pytest.fixture
def fernet_keys(settings):
    def use(keys):
        settings.FERNET_KEYS = keys
        _reset_field_keys()

    yield use
    _reset_field_keys()


def output(*args, **kwargs):
    out = io.StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue()


def raw_tokens():
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, access_token FROM integrations_githubcredential ORDER BY id")
        return [(pk, bytes(value)) for pk, value in cursor.fetchall()]


def test_sync_status_prints_derived_states_and_repository_progress(team, settings):
    done = start_sync(team, list(team.repositories.all()), reason="onboarding", enqueue=False)
    run_sync(done.pk)
    old = timezone.now() - timezone.timedelta(seconds=settings.SYNC_STALL_SECONDS + 20)
    stalled = SyncRun.objects.create(
        team=team, reason="admin", started_at=old, heartbeat_at=old, heartbeat_note="acme/x: page 2 of 5"
    )

    text = output("sync_status", team=team.slug)

    lines = text.splitlines()
    assert any(line.split()[:4] == [str(stalled.pk), team.slug, "admin", "stalled"] for line in lines)
    assert "The worker stopped responding" in text and "while acme/x: page 2 of 5" in text
    assert any(line.split()[:4] == [str(done.pk), team.slug, "onboarding", "succeeded"] for line in lines)
    for repo in team.repositories.all():
        assert [repo.full_name, "complete", str(repo.prs_synced), "of", str(repo.prs_total)] in rows(text, done)
    assert TEST_TOKEN not in text


def rows(text, run):
    """The repository lines printed under ``run``'s line, split into words."""
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.split()[:1] == [str(run.pk)])
    found = []
    for line in lines[start + 1 :]:
        if not line.startswith("        "):
            break
        found.append(line.split())
    return found


def test_sync_status_shows_each_run_its_own_repository_progress_latest_first(team):
    done = start_sync(team, list(team.repositories.all()), reason="onboarding", enqueue=False)
    run_sync(done.pk)
    queued = start_sync(team, list(team.repositories.all()), reason="admin", full=True, enqueue=False)

    text = output("sync_status", team=team.slug)

    header, first = text.splitlines()[:2]
    assert header.split()[:4] == ["run", "team", "reason", "state"]
    assert first.split()[:4] == [str(queued.pk), team.slug, "admin", "queued"]
    for repo in team.repositories.all():
        assert [repo.full_name, "pending", "0", "of", "?"] in rows(text, queued)
        assert [repo.full_name, "complete", str(repo.prs_total), "of", str(repo.prs_total)] in rows(text, done)


def test_sync_status_with_no_runs(team):
    assert output("sync_status").strip() == "No sync runs yet."


def test_rotate_fernet_keys_re_encrypts_every_token_with_the_first_key(team, fernet_keys, settings):
    old_key = settings.FERNET_KEYS[0]
    new_key = Fernet.generate_key().decode()
    before = raw_tokens()

    fernet_keys([new_key, old_key])
    text = output("rotate_fernet_keys")

    assert text.strip() == "Re-encrypted 1 tokens with the first key of FERNET_KEYS."
    assert raw_tokens() != before
    fernet_keys([new_key])  # the old key can go now
    assert GitHubCredential.objects.get().access_token == TEST_TOKEN


def test_rotate_fernet_keys_with_a_wrong_key_changes_nothing(team, fernet_keys):
    before = raw_tokens()

    fernet_keys([Fernet.generate_key().decode()])
    with pytest.raises(CommandError, match="cannot be decrypted.*Nothing was changed"):
        output("rotate_fernet_keys")

    assert raw_tokens() == before
