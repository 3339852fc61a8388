"""A team's GitHub connection as the onboarding pages make it: OAuth state, the stored token, the organisation.

The access token lives only in ``GitHubCredential.access_token`` (encrypted). It never goes into
the session, a message, a page or a log line (at most its first four characters and its length).
"""

import logging
import secrets
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from integrations.github import oauth
from integrations.github.client import GitHubClient
from integrations.models import GitHubCredential, GitHubIntegration

logger = logging.getLogger("onboarding")

OAUTH_SCOPE = "read:org repo"
SESSION_OAUTH_STATE = "onboarding_github_oauth_state"

# A person waits on these calls, so they fail within seconds instead of sleeping out a rate limit
# or retrying for minutes like the sync worker, which nobody watches: a hung GitHub must end in
# an "unavailable" message with a Retry button, not in a request the browser gives up on.
WEB_CONNECT_TIMEOUT = 3.0
WEB_READ_TIMEOUT = 10.0
WEB_MAX_RETRIES = 1
REPOSITORIES_CACHE_SECONDS = 60
NEVER = datetime.min.replace(tzinfo=UTC)


def web_client(token):
    """A GitHubClient for a request a browser waits on: short timeouts, one retry, no rate-limit sleeps."""
    return GitHubClient(
        token,
        connect_timeout=min(settings.GITHUB_CONNECT_TIMEOUT, WEB_CONNECT_TIMEOUT),
        read_timeout=min(settings.GITHUB_READ_TIMEOUT, WEB_READ_TIMEOUT),
        max_retries=min(settings.GITHUB_MAX_RETRIES, WEB_MAX_RETRIES),
        max_wait_seconds=0,  # a rate limit raises RateLimited(until) at once; the page says until when
    )


def authorize_url(session, redirect_uri):
    """GitHub's approval page for this app; remembers a fresh random ``state`` in ``session``."""
    state = secrets.token_urlsafe(32)
    session[SESSION_OAUTH_STATE] = state
    return oauth.authorize_url(settings.GITHUB_WEB_URL, settings.GITHUB_CLIENT_ID, redirect_uri, state, OAUTH_SCOPE)


def pop_state(session, received):
    """Forget the session's OAuth ``state`` and compare it with ``received``.

    Returns "ok", "missing" (none was pending: already used, or another browser) or "mismatch".
    Popped whatever the outcome, so a callback URL works once.
    """
    expected = session.pop(SESSION_OAUTH_STATE, None)
    if not expected:
        return "missing"
    if not received or not secrets.compare_digest(expected.encode(), received.encode()):
        return "mismatch"
    return "ok"


def exchange_code(code, redirect_uri):
    """``(token, scopes)`` for the callback's ``code``; OAuthError when GitHub refuses it."""
    return oauth.exchange_oauth_code(settings.GITHUB_CLIENT_ID, settings.GITHUB_CLIENT_SECRET, code, redirect_uri)


@transaction.atomic
def save_connection(team, user, token, scopes):
    """Store ``token`` (encrypted) as ``team``'s GitHub connection, keeping its organisation if any."""
    integration, created = GitHubIntegration.objects.get_or_create(
        team=team, defaults={"organization_login": "", "connected_by": user, "scopes": scopes}
    )
    if not created:
        integration.connected_by = user
        integration.scopes = scopes
        integration.save(update_fields=["connected_by", "scopes"])
    # A queryset update never decrypts the old token, which may be unreadable after a key change.
    if not GitHubCredential.objects.filter(integration=integration).update(access_token=token):
        GitHubCredential.objects.create(integration=integration, access_token=token)
    forget_org_repositories(integration)
    logger.info(
        "GitHub connected for team %s by user %s: scopes %r, token %s… (%d chars)",
        team.pk,
        user.pk,
        scopes,
        token[:4],
        len(token),
    )
    return integration


def visible_org_logins(integration):
    """Logins of the organisations the stored token can see, in GitHub's order; GitHubError on failure."""
    with web_client(integration.get_access_token()) as client:
        return [org["login"] for org in client.list_orgs()]


def choose_organization(integration, login):
    """Make ``login`` the team's organisation (the caller checked the token sees it)."""
    if integration.organization_login != login:
        integration.organization_login = login
        integration.save(update_fields=["organization_login"])
    forget_org_repositories(integration)
    logger.info("team %s chose GitHub organisation %s", integration.team_id, login)


def org_repositories(integration, *, refresh=False):
    """The organisation's repositories as the stored token sees them, most recently pushed first.

    Cached for ``REPOSITORIES_CACHE_SECONDS`` per team and organisation, so listing them for the
    page and checking the chosen ones on submit cost one listing of a large organisation, not two;
    ``refresh`` lists them again. GitHubError (a subclass saying what went wrong) on failure.
    """
    key = _repositories_key(integration)
    if not refresh:
        cached = cache.get(key)
        if cached is not None:
            return cached
    with web_client(integration.get_access_token()) as client:
        repositories = list(client.iter_org_repos(integration.organization_login))
    repositories.sort(key=lambda r: r.full_name.lower())
    repositories.sort(key=lambda r: r.pushed_at or NEVER, reverse=True)  # stable: ties stay by name
    cache.set(key, repositories, REPOSITORIES_CACHE_SECONDS)
    return repositories


def forget_org_repositories(integration):
    """Drop the cached list (the token or the organisation changed)."""
    cache.delete(_repositories_key(integration))


def _repositories_key(integration):
    return f"onboarding:org-repositories:{integration.team_id}:{integration.organization_login.lower()}"
