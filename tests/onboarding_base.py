"""Shared builders of the onboarding tests: named users, teams, a GitHub OAuth app on an emulator.

Import the autouse fixtures into each test module: ``from tests.onboarding_base import fast_passwords, fresh_cache``.
"""

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.cache import cache

from integrations.models import GitHubCredential, GitHubIntegration, Team
from onboarding.views._helpers import SESSION_TEAM
from tests.conftest import TEST_TOKEN


@pytest.fixture(autouse=True)
def fresh_cache():
    """The repository lists are cached per team: never let one test see another's."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Hashing "pw" with the production hasher costs about a second per user on a small machine."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_user(username):
    return get_user_model().objects.create_user(username, password="pw")


def make_team(name, *members):
    team = Team.objects.create(name=name, slug=name.lower().replace(" ", "-"))
    team.members.add(*members)
    return team


def connect(team, org="acme", *, token=TEST_TOKEN, user=None):
    """``team`` connected to ``org`` with ``token``, tracking nothing yet."""
    integration = GitHubIntegration.objects.create(
        team=team, organization_login=org, connected_by=user, scopes="read:org,repo"
    )
    GitHubCredential.objects.create(integration=integration, access_token=token)
    return integration


def sign_in(client, user, team=None):
    """Sign ``user`` in on ``client``, acting for ``team`` when given."""
    client.force_login(user)
    if team is not None:
        session = client.session
        session[SESSION_TEAM] = team.pk
        session.save()
    return client


def approve_on_github(authorize_url):
    """Press "Authorize" on the emulator's page at ``authorize_url``; returns the callback's query (code, state)."""
    page = requests.get(authorize_url, timeout=5)
    page.raise_for_status()
    form = re.search(r'<form method="post" action="([^"]+)">(.*?)</form>', page.text, re.S)
    fields = {unescape(n): unescape(v) for n, v in re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(2))}
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(authorize_url))
    answer = requests.post(origin + form.group(1), data=fields, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    return query_of(answer.headers["Location"])


def deny_on_github(authorize_url):
    """Follow the emulator page's Cancel link; returns the callback's query (error, state)."""
    page = requests.get(authorize_url, timeout=5)
    cancel = unescape(re.search(r'href="([^"]+)" id="js-oauth-cancel"', page.text).group(1))
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(authorize_url))
    answer = requests.get(origin + cancel, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    return query_of(answer.headers["Location"])


def query_of(url):
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
