"""The GitHub token: encrypted at rest, never logged, readable after a key rotation, explained when it is not."""

import logging

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from integrations.models import GitHubCredential, GitHubIntegration
from integrations.sync.runner import run_sync
from integrations.sync.start import start_sync
from tests.base import connected_team, point_settings_at
from tests.conftest import add_fault

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "gho_S3cretTokenThatMustNeverLeak0123456789"


def _reset_field_keys():
    """The field caches its Fernet keys; a test that changes FERNET_KEYS must drop them."""
    field = GitHubCredential._meta.get_field("access_token")
    for name in ("keys", "fernet_keys", "fernet"):
        field.__dict__.pop(name, None)


@pytest.fixture
def fernet_keys(settings):
    def use(keys):
        settings.FERNET_KEYS = keys
        _reset_field_keys()

    yield use
    _reset_field_keys()


@pytest.fixture
def github(make_emulator, settings):
    server = make_emulator(seed=31, repos=1, prs=(30, 30), members=3, tokens=(SECRET,))
    point_settings_at(settings, server)
    return server


def test_the_token_never_appears_in_logs(github, caplog):
    caplog.set_level(logging.DEBUG)
    team = connected_team(github, token=SECRET)
    run = start_sync(team, list(team.repositories.all()), reason="onboarding", enqueue=False)
    assert run_sync(run.pk).outcome == "succeeded"
    add_fault(github, kind="revoke_token")
    run = start_sync(team, list(team.repositories.all()), reason="retry", enqueue=False)
    assert run_sync(run.pk).outcome == "failed"

    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "[SYNC_TASK] entry" in logged
    assert f"prefix={SECRET[:4]} length={len(SECRET)}" in logged
    assert SECRET not in logged
    assert SECRET[4:12] not in logged


def test_the_stored_token_is_not_plaintext(github):
    team = connected_team(github, token=SECRET)
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM integrations_githubcredential")
        (raw,) = cursor.fetchone()
    raw = bytes(raw)
    assert SECRET.encode() not in raw
    assert raw.startswith(b"gAAAAA")  # a Fernet token
    assert team.github.get_access_token() == SECRET


def test_old_tokens_still_decrypt_after_a_new_key_is_put_first(github, fernet_keys, settings):
    old_key = settings.FERNET_KEYS[0]
    connected_team(github, token=SECRET)
    new_key = Fernet.generate_key().decode()

    fernet_keys([new_key, old_key])

    credential = GitHubCredential.objects.get()
    assert credential.access_token == SECRET
    credential.save()  # re-encrypted with the new key
    fernet_keys([new_key])
    assert GitHubCredential.objects.get().access_token == SECRET


def test_a_token_that_cannot_be_decrypted_fails_the_run_naming_fernet_keys(github, fernet_keys):
    team = connected_team(github, token=SECRET)
    run = start_sync(team, list(team.repositories.all()), reason="onboarding", enqueue=False)

    fernet_keys([Fernet.generate_key().decode()])
    summary = run_sync(run.pk)

    run.refresh_from_db()
    assert summary.outcome == "failed"
    assert "FERNET_KEYS" in run.get_state().reason
    # Listing integrations still works: the token lives in its own table.
    assert GitHubIntegration.objects.get(team=team).organization_login == "acme"


def test_an_empty_token_fails_the_run_clearly(github):
    team = connected_team(github, token=SECRET)
    credential = GitHubCredential.objects.get()
    credential.access_token = "   "
    credential.save()
    run = start_sync(team, list(team.repositories.all()), reason="onboarding", enqueue=False)

    run_sync(run.pk)

    run.refresh_from_db()
    assert run.get_state().state == "failed"
    assert "empty" in run.error
