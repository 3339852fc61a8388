"""Step 2 of onboarding: the OAuth dance against the emulator, its failures, and the organisation choice."""

import logging

import pytest
import requests
from django.db import connection
from django.urls import reverse

from integrations.emulator.data import build_world
from integrations.emulator.server import EmulatorServer
from integrations.models import GitHubCredential, GitHubIntegration
from onboarding.github_connection import SESSION_OAUTH_STATE
from tests.base import point_settings_at
from tests.conftest import TEST_TOKEN
from tests.onboarding_base import (  # noqa: F401  (autouse fixtures)
    approve_on_github,
    connect,
    deny_on_github,
    fast_passwords,
    fresh_cache,
    make_team,
    make_user,
    query_of,
    sign_in,
)

pytestmark = pytest.mark.django_db

CONNECT_URL = reverse("onboarding:github_connect")
CALLBACK_URL = reverse("onboarding:github_callback")
ORGANIZATION_URL = reverse("onboarding:github_organization")
CLIENT_ID = "onboarding-tests"
CLIENT_SECRET = "onboarding-tests-secret"


@pytest.fixture
def oauth_app(settings):
    """Settings pointing at a fresh emulator that knows this OAuth app; yields a builder for other worlds."""
    started = []

    def start(orgs=("acme",), repos=3):
        world = build_world(seed=5, orgs=orgs, repos=repos, prs=(0, 0), members=3)
        server = EmulatorServer(world, tokens=(TEST_TOKEN,), oauth_clients={CLIENT_ID: CLIENT_SECRET}).start()
        started.append(server)
        point_settings_at(settings, server, read_timeout=2.0, retries=1)
        settings.GITHUB_CLIENT_ID = CLIENT_ID
        settings.GITHUB_CLIENT_SECRET = CLIENT_SECRET
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def ada(client):
    user = make_user("ada")
    sign_in(client, user, make_team("Acme team", user))
    return user


def start_connecting(client):
    """POST the connect button; returns GitHub's authorize URL the browser is sent to."""
    response = client.post(CONNECT_URL)
    assert response.status_code == 302
    return response["Location"]


def test_connecting_sends_the_browser_to_github_with_a_fresh_state(client, ada, oauth_app):
    github = oauth_app()
    assert "Connect GitHub" in client.get(CONNECT_URL).content.decode()

    authorize = start_connecting(client)

    query = query_of(authorize)
    assert authorize.startswith(f"{github.url}/login/oauth/authorize?")
    assert query["client_id"] == CLIENT_ID
    assert query["scope"] == "read:org repo"
    assert query["redirect_uri"] == f"http://testserver{CALLBACK_URL}"
    assert len(query["state"]) >= 32 and query["state"] == client.session[SESSION_OAUTH_STATE]
    assert query_of(start_connecting(client))["state"] != query["state"]


def test_the_whole_dance_stores_the_token_encrypted_and_nowhere_else(client, ada, oauth_app, caplog):
    caplog.set_level(logging.DEBUG)
    oauth_app()
    bodies = []

    answer = approve_on_github(start_connecting(client))
    response = client.get(CALLBACK_URL, answer)
    bodies.append(response.content)

    assert response.status_code == 302
    assert response["Location"] == reverse("onboarding:select_repos")  # one organisation: chosen for the user
    integration = GitHubIntegration.objects.get()
    assert (integration.organization_login, integration.connected_by, integration.scopes) == (
        "acme",
        ada,
        "read:org,repo",
    )
    token = integration.credential.access_token
    assert token.startswith("gho_")
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM integrations_githubcredential")
        (stored,) = cursor.fetchone()
    assert token not in str(stored)
    for url in (reverse("onboarding:select_repos"), reverse("onboarding:fetch_repos"), CONNECT_URL):
        page = client.get(url)
        assert page.status_code == 200
        bodies.append(page.content)
    assert b"acme/" in bodies[-2]  # the token works: the repositories were listed with it
    assert not [body for body in bodies if token.encode() in body]
    assert token not in str(dict(client.session.items()))
    assert token not in caplog.text
    assert f"token {token[:4]}… ({len(token)} chars)" in caplog.text


def test_replaying_the_callback_is_refused(client, ada, oauth_app):
    oauth_app()
    answer = approve_on_github(start_connecting(client))
    assert client.get(CALLBACK_URL, answer).status_code == 302
    first_token = GitHubCredential.objects.get().access_token

    replay = client.get(CALLBACK_URL, answer)

    assert replay.status_code == 400
    page = replay.content.decode()
    assert "already used or has expired" in page
    assert f'href="{CONNECT_URL}"' in page and "Try again" in page
    assert GitHubCredential.objects.get().access_token == first_token


def test_a_wrong_state_is_refused_and_forgets_the_pending_one(client, ada, oauth_app):
    oauth_app()
    answer = approve_on_github(start_connecting(client))

    response = client.get(CALLBACK_URL, {**answer, "state": answer["state"][:-1] + "x"})

    assert response.status_code == 400
    assert "does not match" in response.content.decode()
    assert "Try again" in response.content.decode()
    assert SESSION_OAUTH_STATE not in client.session
    # The right state no longer works either: a guess costs the pending attempt.
    assert client.get(CALLBACK_URL, answer).status_code == 400
    assert not GitHubIntegration.objects.exists()


def test_a_callback_without_any_pending_state_is_refused(client, ada, oauth_app):
    oauth_app()

    response = client.get(CALLBACK_URL, {"code": "0123456789abcdef0123", "state": "made-up"})

    assert response.status_code == 400
    assert "already used or has expired" in response.content.decode()


def test_denied_access_says_so(client, ada, oauth_app):
    oauth_app()
    answer = deny_on_github(start_connecting(client))
    assert answer["error"] == "access_denied"

    response = client.get(CALLBACK_URL, answer)

    page = response.content.decode()
    assert response.status_code == 400
    assert "GitHub access was not granted" in page
    assert f'href="{CONNECT_URL}"' in page and "Try again" in page
    assert not GitHubIntegration.objects.exists()


def test_a_used_code_fails_the_exchange(client, ada, oauth_app):
    github = oauth_app()
    answer = approve_on_github(start_connecting(client))
    used = requests.post(
        f"{github.url}/login/oauth/access_token",
        data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code": answer["code"]},
        headers={"Accept": "application/json"},
        timeout=5,
    )
    assert "access_token" in used.json()

    response = client.get(CALLBACK_URL, answer)

    page = response.content.decode()
    assert response.status_code == 400
    assert "GitHub did not accept the sign-in code" in page
    assert "incorrect or expired" in page  # GitHub's own explanation
    assert "Try again" in page
    assert not GitHubIntegration.objects.exists()


def test_connecting_without_an_oauth_app_configured_says_what_to_set(client, ada, settings):
    settings.GITHUB_CLIENT_ID = ""

    response = client.get(CONNECT_URL)

    assert response.status_code == 503
    assert "GITHUB_CLIENT_ID" in response.content.decode()


def test_a_user_in_several_organisations_chooses_one(client, ada, oauth_app):
    oauth_app(orgs=("acme", "globex"))
    answer = approve_on_github(start_connecting(client))

    response = client.get(CALLBACK_URL, answer)

    assert response["Location"] == ORGANIZATION_URL
    assert GitHubIntegration.objects.get().organization_login == ""
    # Not chosen yet: the repositories step sends the user back to the choice.
    assert client.get(reverse("onboarding:select_repos"))["Location"] == ORGANIZATION_URL
    page = client.get(ORGANIZATION_URL).content.decode()
    assert 'value="acme"' in page and 'value="globex"' in page

    chosen = client.post(ORGANIZATION_URL, {"organization": "globex"})

    assert chosen["Location"] == reverse("onboarding:select_repos")
    assert GitHubIntegration.objects.get().organization_login == "globex"


def test_an_organisation_the_token_does_not_see_is_refused(client, ada, oauth_app):
    oauth_app(orgs=("acme", "globex"))
    client.get(CALLBACK_URL, approve_on_github(start_connecting(client)))

    response = client.post(ORGANIZATION_URL, {"organization": "initech"})

    assert response.status_code == 400
    assert "initech is not an organisation your GitHub connection can see" in response.content.decode()
    assert GitHubIntegration.objects.get().organization_login == ""


def test_the_demo_gives_its_emulator_every_stored_token_that_decrypts():
    from onboarding.management.commands.demo import stored_tokens

    for name, token in (("Red", "gho_red"), ("Blue", "gho_blue"), ("Lost", "gho_lost")):
        connect(make_team(name), token=token)
    with connection.cursor() as cursor:
        # What a changed FERNET_KEYS leaves behind: a value no current key decrypts.
        cursor.execute(
            "UPDATE integrations_githubcredential SET access_token = %s WHERE integration_id = %s",
            [b"not-a-fernet-token", GitHubIntegration.objects.get(team__name="Lost").pk],
        )
    notes = []

    assert stored_tokens(notes.append) == ["gho_red", "gho_blue"]
    assert "team 'Lost'" in notes[0] and "cannot be decrypted" in notes[0]
