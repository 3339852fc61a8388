"""GitHub's OAuth web flow: the authorize URL and the code-for-token exchange."""

from urllib.parse import urlencode

import requests
from django.conf import settings

from .errors import OAuthError
from .transport import USER_AGENT


def authorize_url(web_url, client_id, redirect_uri, state, scope):
    """The page on GitHub where the user approves access; ``scope`` is a string or a list of scopes."""
    if not isinstance(scope, str):
        scope = " ".join(scope)
    query = urlencode({"client_id": client_id, "redirect_uri": redirect_uri, "state": state, "scope": scope})
    # GitHub docs: https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps#1-request-a-users-github-identity
    return f"{web_url.rstrip('/')}/login/oauth/authorize?{query}"


def exchange_oauth_code(client_id, client_secret, code, redirect_uri, *, web_url=None, timeout=None):
    """Trade the callback's ``code`` for ``(access_token, scopes)``; scopes as GitHub lists them ("read:org,repo").

    Not retried: a code works once, so a second attempt after a lost answer would fail anyway.
    """
    web_url = (web_url or settings.GITHUB_WEB_URL).rstrip("/")
    timeout = timeout or (settings.GITHUB_CONNECT_TIMEOUT, settings.GITHUB_READ_TIMEOUT)
    try:
        # GitHub docs: https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps#2-users-are-redirected-back-to-your-site-by-github
        response = requests.post(
            f"{web_url}/login/oauth/access_token",
            data={"client_id": client_id, "client_secret": client_secret, "code": code, "redirect_uri": redirect_uri},
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            timeout=timeout,
        )
    except requests.RequestException:
        raise OAuthError("GitHub could not be reached to finish connecting; try again.") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    # GitHub answers a refused exchange with 200 and an "error" field (e.g. bad_verification_code).
    if not response.ok or not isinstance(body, dict) or body.get("error") or not body.get("access_token"):
        detail = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
        raise OAuthError(
            "GitHub did not accept the sign-in code"
            + (f": {detail}." if detail else f" (HTTP {response.status_code}).")
            + " Start connecting again."
        )
    return body["access_token"], body.get("scope", "")
