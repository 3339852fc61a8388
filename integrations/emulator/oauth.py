"""github.com's OAuth web flow: authorize page, code exchange, issued tokens.

Mirrors GitHub's behaviour where clients depend on it: the token endpoint
answers 200 even for errors (with an ``error`` field), answers form-encoded
unless asked for JSON, codes are single-use and expire after 10 minutes,
and granted scopes come back comma-separated.
"""

from __future__ import annotations

import html
import secrets
import string
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from .wire import Request, Response, html_response, json_response

CODE_TTL = 600
APP_DOCS = "https://docs.github.com/apps/managing-oauth-apps"
ERROR_DOCS = f"{APP_DOCS}/troubleshooting-oauth-app-access-token-request-errors"
_ALPHABET = string.ascii_letters + string.digits


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    scope: str
    expires: float


def _with_params(url: str, params: dict) -> str:
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _normalise_scope(scope: str) -> str:
    # Clients send "read:org repo" or "read:org,repo"; GitHub answers "read:org,repo".
    return ",".join(s for s in scope.replace(",", " ").split() if s)


def _redirect(location: str) -> Response:
    return Response(302, b"", {"Location": location}, "text/html; charset=utf-8")


class OAuthProvider:
    def __init__(self, viewer_login: str, issue_token, clients: dict[str, str] | None = None, clock=time.time):
        """``issue_token(token, scopes)`` registers a token for the viewer.

        ``clients`` maps client_id -> client_secret; when omitted any
        non-empty client id and secret are accepted.
        """
        self.viewer_login = viewer_login
        self._issue_token = issue_token
        self._clients = clients
        self._clock = clock
        self._codes: dict[str, _Grant] = {}
        self._lock = threading.Lock()

    def authorize_page(self, request: Request) -> Response:
        client_id = request.param("client_id")
        redirect_uri = request.param("redirect_uri")
        state = request.param("state") or ""
        if not client_id or (self._clients is not None and client_id not in self._clients):
            return html_response(404, "<!DOCTYPE html><title>Page not found</title><h1>404</h1>")
        if not redirect_uri:
            return html_response(400, "<!DOCTYPE html><title>Bad request</title><p>The redirect_uri is missing.</p>")
        if request.param("cancel"):
            return self._deny(redirect_uri, state)
        scope = _normalise_scope(request.param("scope") or "")
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in (("client_id", client_id), ("redirect_uri", redirect_uri), ("state", state), ("scope", scope))
        )
        cancel_url = "/login/oauth/authorize?" + urlencode(
            {"client_id": client_id, "redirect_uri": redirect_uri, "state": state, "cancel": "1"}
        )
        scopes = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in scope.split(",") if s)
        page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Authorize application</title></head>
<body>
<main class="oauth">
  <h1>Authorize <span id="client-id">{html.escape(client_id)}</span></h1>
  <p>Signed in as <strong id="viewer-login">{html.escape(self.viewer_login)}</strong>
     (local GitHub emulator).</p>
  <p>This application will be able to:</p>
  <ul id="scopes">{scopes or "<li>read public information</li>"}</ul>
  <form method="post" action="/login/oauth/authorize">
    {hidden}
    <button type="submit" name="authorize" value="1" id="js-oauth-authorize-btn">Authorize</button>
    <a href="{html.escape(cancel_url)}" id="js-oauth-cancel">Cancel</a>
  </form>
</main>
</body></html>"""
        return html_response(200, page)

    def authorize_submit(self, request: Request) -> Response:
        form = request.form()
        client_id, redirect_uri = form.get("client_id"), form.get("redirect_uri")
        state = form.get("state", "")
        if not client_id or not redirect_uri:
            return html_response(400, "<!DOCTYPE html><p>Missing client_id or redirect_uri.</p>")
        if form.get("authorize", "1") != "1":
            return self._deny(redirect_uri, state)
        code = secrets.token_hex(10)  # GitHub codes are 20 hex characters
        with self._lock:
            self._codes[code] = _Grant(
                client_id, redirect_uri, _normalise_scope(form.get("scope", "")), self._clock() + CODE_TTL
            )
        return _redirect(_with_params(redirect_uri, {"code": code, "state": state}))

    def _deny(self, redirect_uri: str, state: str) -> Response:
        return _redirect(
            _with_params(
                redirect_uri,
                {
                    "error": "access_denied",
                    "error_description": "The user has denied your application access.",
                    "error_uri": f"{APP_DOCS}/troubleshooting-authorization-request-errors/#access-denied",
                    "state": state,
                },
            )
        )

    def access_token(self, request: Request) -> Response:
        form = request.form()
        wants_json = "json" in request.headers.get("accept", "")
        code = form.get("code", "")
        with self._lock:
            grant = self._codes.pop(code, None)  # single use, even when it fails
        if grant is None or grant.expires < self._clock():
            return self._answer(
                wants_json,
                {
                    "error": "bad_verification_code",
                    "error_description": "The code passed is incorrect or expired.",
                    "error_uri": f"{ERROR_DOCS}/#bad-verification-code",
                },
            )
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        known_secret = self._clients.get(client_id) if self._clients is not None else None
        if client_id != grant.client_id or not secret or (known_secret is not None and secret != known_secret):
            return self._answer(
                wants_json,
                {
                    "error": "incorrect_client_credentials",
                    "error_description": "The client_id and/or client_secret passed are incorrect.",
                    "error_uri": f"{ERROR_DOCS}/#incorrect-client-credentials",
                },
            )
        redirect_uri = form.get("redirect_uri")
        if redirect_uri and redirect_uri != grant.redirect_uri:
            return self._answer(
                wants_json,
                {
                    "error": "redirect_uri_mismatch",
                    "error_description": (
                        "The redirect_uri MUST match the registered callback URL for this application."
                    ),
                    "error_uri": f"{ERROR_DOCS}/#redirect-uri-mismatch",
                },
            )
        token = "gho_" + "".join(secrets.choice(_ALPHABET) for _ in range(36))
        self._issue_token(token, grant.scope)
        return self._answer(wants_json, {"access_token": token, "token_type": "bearer", "scope": grant.scope})

    @staticmethod
    def _answer(wants_json: bool, payload: dict) -> Response:
        if wants_json:
            return json_response(200, payload)
        # GitHub's default answer is form-encoded.
        return Response(200, urlencode(payload).encode(), {}, "application/x-www-form-urlencoded; charset=utf-8")
