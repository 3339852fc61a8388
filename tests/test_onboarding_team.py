"""Step 1 of onboarding: signing in, creating a team, choosing one of several."""

import pytest
from django.urls import reverse

from integrations.models import Team
from onboarding.views._helpers import SESSION_TEAM
from tests.onboarding_base import connect, fast_passwords, fresh_cache, make_team, make_user, sign_in  # noqa: F401

pytestmark = pytest.mark.django_db

TEAM_URL = reverse("onboarding:team")
START_URL = reverse("onboarding:start")


def test_the_login_page_leads_into_the_onboarding_flow(client):
    make_user("ada")

    response = client.post(reverse("login"), {"username": "ada", "password": "pw", "next": START_URL})

    assert response.status_code == 302
    assert response["Location"] == START_URL
    assert client.get(START_URL)["Location"] == TEAM_URL


def test_an_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get(TEAM_URL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_user_without_a_team_creates_one_and_acts_for_it(client):
    sign_in(client, make_user("ada"))
    page = client.get(TEAM_URL)
    assert "Create your team" in page.content.decode()

    response = client.post(TEAM_URL, {"name": "Acme Corp"})

    team = Team.objects.get()
    assert (team.name, team.slug) == ("Acme Corp", "acme-corp")
    assert list(team.members.values_list("username", flat=True)) == ["ada"]
    assert client.session[SESSION_TEAM] == team.pk
    assert response["Location"] == START_URL
    assert client.get(START_URL)["Location"] == reverse("onboarding:github_connect")


def test_a_team_name_already_taken_gets_a_unique_slug(client):
    make_team("Acme Corp", make_user("someone"))
    sign_in(client, make_user("ada"))

    client.post(TEAM_URL, {"name": "Acme Corp"})
    client.post(TEAM_URL, {"name": "acme corp!"})

    assert sorted(Team.objects.values_list("slug", flat=True)) == ["acme-corp", "acme-corp-2", "acme-corp-3"]


def test_a_blank_team_name_is_refused(client):
    sign_in(client, make_user("ada"))

    response = client.post(TEAM_URL, {"name": "  !!  "})

    assert response.status_code == 400
    assert "letter or digit" in response.content.decode()
    assert not Team.objects.exists()


def test_a_user_in_several_teams_chooses_one(client):
    ada = make_user("ada")
    red, blue = make_team("Red", ada), make_team("Blue", ada)
    sign_in(client, ada)
    assert client.get(START_URL)["Location"] == TEAM_URL
    page = client.get(TEAM_URL).content.decode()
    assert "Red" in page and "Blue" in page

    response = client.post(TEAM_URL, {"team": blue.pk})

    assert response["Location"] == START_URL
    assert client.session[SESSION_TEAM] == blue.pk
    connect(red)
    # Blue, not Red, is the team acted for: Blue has no GitHub connection yet.
    assert client.get(START_URL)["Location"] == reverse("onboarding:github_connect")


def test_choosing_a_team_the_user_is_not_in_is_refused(client):
    ada = make_user("ada")
    make_team("Red", ada)
    other = make_team("Other", make_user("eve"))
    sign_in(client, ada)

    response = client.post(TEAM_URL, {"team": other.pk})

    assert response.status_code == 400
    assert "not one of yours" in response.content.decode()
    assert SESSION_TEAM not in client.session


def test_a_tampered_session_team_is_ignored(client):
    ada = make_user("ada")
    mine = make_team("Mine", ada)
    other = make_team("Other", make_user("eve"))
    connect(other)
    sign_in(client, ada, team=other)

    # Acting for "Other" would show its repositories page; Ada acts for her own, unconnected team.
    response = client.get(reverse("onboarding:select_repos"))

    assert response["Location"] == reverse("onboarding:github_connect")
    mine.delete()
    assert client.get(reverse("onboarding:select_repos"))["Location"] == TEAM_URL


def test_a_user_cannot_create_a_second_team_of_the_same_name_in_any_case(client):
    ada = make_user("ada")
    mine = make_team("Acme Corp", ada)
    sign_in(client, ada)

    response = client.post(TEAM_URL, {"name": "  aCME corp "})

    assert response.status_code == 400
    assert "You already have a team called Acme Corp." in response.content.decode()
    assert list(Team.objects.all()) == [mine]
    assert SESSION_TEAM not in client.session


def test_another_users_team_name_can_be_reused(client):
    make_team("Acme Corp", make_user("eve"))
    sign_in(client, make_user("ada"))

    response = client.post(TEAM_URL, {"name": "acme corp"})

    assert response["Location"] == START_URL
    assert sorted(Team.objects.values_list("name", flat=True)) == ["Acme Corp", "acme corp"]
