"""HTTP to GitHub: one session, timeouts, bounded retries, rate limits, typed errors.

Rate limits follow GitHub's documented rules
(https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#handle-rate-limit-errors-appropriately):
``Retry-After`` first, then ``X-RateLimit-Remaining: 0`` until ``X-RateLimit-Reset``, then one
minute for a secondary limit that names itself. A 403 with none of these is a permission
problem, and a response without rate headers (GitHub Enterprise Server with rate limiting
off) never means "wait".
"""

import logging
import random
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

import requests

from .errors import BadCredentials, GitHubError, GitHubUnavailable, GraphQLError, NoAccess, NotFound, RateLimited
from .types import RateLimitInfo

logger = logging.getLogger(__name__)

USER_AGENT = "github-sync-client (+python-requests)"
API_VERSION = "2022-11-28"
# GitHub: "wait for at least one minute" when a secondary limit comes without Retry-After.
SECONDARY_LIMIT_WAIT = 60
# A server that keeps saying "limited" after every announced reset is broken, not busy.
MAX_RATE_LIMIT_WAITS = 10
# GitHub answers a GraphQL query that ran out of time with this message, sometimes with a 200;
# it is retried (with a smaller page) like a 502, and ends as a GraphQLError if it persists.
GRAPHQL_TIMEOUT_MESSAGE = "something went wrong while executing your query"

_TIMES = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times"}


def _now():
    return datetime.now(UTC)


def _times(count):
    return _TIMES.get(count, f"{count} times")


def parse_rate_limit(headers, default_resource=None):
    """A RateLimitInfo from response headers, or None when GitHub sent no rate headers."""
    remaining = _int_header(headers, "X-RateLimit-Remaining")
    if remaining is None:
        return None
    reset = _int_header(headers, "X-RateLimit-Reset")
    if reset is not None and reset > 10**11:
        reset //= 1000  # milliseconds (octokit's recorded fixtures); GitHub itself sends seconds
    return RateLimitInfo(
        limit=_int_header(headers, "X-RateLimit-Limit"),
        remaining=remaining,
        reset_at=datetime.fromtimestamp(reset, UTC) if reset is not None else None,
        resource=headers.get("X-RateLimit-Resource") or default_resource,
    )


def _int_header(headers, name):
    try:
        return int(str(headers.get(name)).strip())
    except ValueError:
        return None


def _json(response):
    try:
        return response.json()
    except ValueError:
        return None


def _message(body):
    return str(body.get("message", "")).strip() if isinstance(body, dict) else ""


def _graphql_errors(body):
    errors = body.get("errors") if isinstance(body, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _went_wrong(body):
    """GitHub's "something went wrong ... may be the result of a timeout" errors: worth a retry, smaller."""
    errors = _graphql_errors(body)
    if errors and all(GRAPHQL_TIMEOUT_MESSAGE in str(e.get("message", "")).lower() for e in errors):
        return errors
    return []


class Transport:
    """Sends requests; returns a 2xx/3xx response or raises a typed GitHubError."""

    def __init__(
        self,
        token,
        *,
        connect_timeout,
        read_timeout,
        max_retries,
        backoff,
        backoff_max,
        waiter=None,
        on_attempt=None,
        sleep=time.sleep,
        max_wait_seconds=3600,
    ):
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": USER_AGENT,
            }
        )
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.waiter = waiter or self._sleep_until
        self.on_attempt = on_attempt
        self.sleep = sleep
        self.max_wait_seconds = max_wait_seconds
        self.request_count = 0
        self.rate_limit = None
        self.last_scopes = None
        # resource ("core" / "graphql") -> when a successful response said Remaining: 0
        self._exhausted_until = {}
        logger.debug("GitHub client for token %s… (%d chars)", token[:4], len(token))

    def close(self):
        self.session.close()

    def send(self, method, url, *, subject, params=None, json=None, graphql=False, on_overload=None):
        """One logical request: waits out rate limits, retries 5xx and network failures.

        ``json`` may be a callable, evaluated before each attempt, so a retry can send a
        smaller query; ``on_overload()`` is called after each 502/504/timeout (before the retry).
        """
        resource = "graphql" if graphql else "core"
        failures = 0
        limit_waits = 0
        while True:
            self._wait_if_exhausted(resource)
            if self.on_attempt is not None:
                self.on_attempt()
            self.request_count += 1
            overloaded = False
            went_wrong = []
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json() if callable(json) else json,
                    timeout=(self.connect_timeout, self.read_timeout),
                )
            except requests.ConnectTimeout:
                problem = f"GitHub did not accept a connection within {self.connect_timeout:g} s"
            except requests.Timeout:
                problem = f"GitHub did not answer within {self.read_timeout:g} s"
                overloaded = True
            except requests.ConnectionError as error:
                # A body that stalls after the headers surfaces as ConnectionError("Read timed out").
                overloaded = "timed out" in str(error).lower()
                problem = (
                    f"GitHub did not answer within {self.read_timeout:g} s"
                    if overloaded
                    else f"Could not connect to GitHub at {urlsplit(url).netloc}"
                )
            else:
                body = _json(response) if graphql or response.status_code in (403, 429) else None
                self.rate_limit = parse_rate_limit(response.headers, resource) or self.rate_limit
                self.last_scopes = response.headers.get("X-OAuth-Scopes", self.last_scopes)
                limit = self._rate_limit_wait(response, body, graphql, limit_waits)
                if limit is not None:
                    limit_waits += 1
                    until, reason = limit
                    if limit_waits > MAX_RATE_LIMIT_WAITS:
                        raise RateLimited(until)
                    self._wait(until, reason)
                    continue
                went_wrong = _went_wrong(body) if graphql and response.status_code < 500 else []
                if response.status_code < 500 and not went_wrong:
                    self._note_exhaustion(response, resource)
                    self._raise_for_status(response, subject)
                    return response
                problem = "GitHub could not run the query" if went_wrong else f"GitHub answered {response.status_code}"
                overloaded = response.status_code in (502, 504) or bool(went_wrong)
            failures += 1
            logger.warning("GitHub request for %s failed (%s), attempt %d", subject, problem, failures)
            if overloaded and on_overload is not None:
                on_overload()
            if failures > self.max_retries:
                if went_wrong:
                    messages = "; ".join(str(e.get("message", "")) for e in went_wrong)
                    raise GraphQLError(f"GitHub could not run the query for {subject}: {messages}", went_wrong)
                raise GitHubUnavailable(f"{problem} {_times(failures)} in a row; try again later.")
            self.sleep(random.uniform(0, min(self.backoff_max, self.backoff * 2 ** (failures - 1))))

    def paginate(self, url, *, subject, params=None):
        """Yield each page's JSON list, following ``Link: rel="next"`` (absolute URLs)."""
        # GitHub docs: https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api
        seen = set()
        while url and url not in seen:
            seen.add(url)
            response = self.send("GET", url, subject=subject, params=params)
            yield json_body(response, subject)
            next_url = response.links.get("next", {}).get("url")
            url = urljoin(response.url, next_url) if next_url else None
            params = None  # the next link carries the query string

    # --- rate limits ---------------------------------------------------------

    def _note_exhaustion(self, response, resource):
        info = parse_rate_limit(response.headers)
        if info is not None and info.remaining == 0 and info.reset_at is not None:
            # This answer was the last one allowed: the *next* request waits for the reset.
            self._exhausted_until[resource] = info.reset_at + timedelta(seconds=1)

    def _wait_if_exhausted(self, resource):
        until = self._exhausted_until.pop(resource, None)
        if until is not None and until > _now():
            self._wait(until, f"GitHub's {resource} rate limit is used up; it resets at {until:%H:%M:%S} UTC.")

    def _rate_limit_wait(self, response, body, graphql, earlier_waits):
        """(until, reason) when the response is a rate limit, else None."""
        status = response.status_code
        headers = response.headers
        now = _now()
        graphql_limited = graphql and any(e.get("type") == "RATE_LIMITED" for e in _graphql_errors(body))
        if status not in (403, 429) and not graphql_limited:
            return None
        retry_after = _int_header(headers, "Retry-After")
        if retry_after is not None and status in (403, 429):
            return now + timedelta(seconds=max(retry_after, 1)), (
                f"GitHub asked us to slow down (secondary rate limit); retrying in {retry_after} s."
            )
        info = parse_rate_limit(headers)
        if graphql_limited or (info is not None and info.remaining == 0):
            if info is not None and info.reset_at is not None:
                until = max(info.reset_at + timedelta(seconds=1), now + timedelta(seconds=1))
            else:
                until = now + timedelta(seconds=SECONDARY_LIMIT_WAIT)
            return until, f"GitHub rate limit reached; waiting until it resets at {until:%H:%M:%S} UTC."
        if status == 429 or "secondary rate limit" in _message(body).lower():
            # GitHub: wait a minute, then exponentially longer if it keeps happening.
            seconds = SECONDARY_LIMIT_WAIT * 2 ** min(earlier_waits, 6)
            return now + timedelta(seconds=seconds), (
                f"GitHub asked us to slow down (secondary rate limit); retrying in {seconds} s."
            )
        return None  # a bare 403: a permission problem, raised by _raise_for_status

    def _wait(self, until, reason):
        seconds = (until - _now()).total_seconds()
        if seconds > self.max_wait_seconds:
            raise RateLimited(until)
        logger.info("%s", reason)
        self.waiter(until, reason)

    def _sleep_until(self, until, reason):
        while (remaining := (until - _now()).total_seconds()) > 0:
            self.sleep(min(remaining, 5.0))

    # --- errors --------------------------------------------------------------

    def _raise_for_status(self, response, subject):
        status = response.status_code
        if status < 400:
            return
        message = _message(_json(response))
        if status == 401:
            raise BadCredentials()
        if status == 403:
            raise NoAccess(f"GitHub denied access to {subject}" + (f": {message}" if message else "."))
        if status == 404:
            raise NotFound(not_found_message(subject))
        raise GitHubError(f"GitHub answered {status} for {subject}" + (f": {message}" if message else "."))


def json_body(response, subject):
    """The decoded JSON of a successful answer; GitHubError if it is not JSON (a proxy's error page)."""
    try:
        return response.json()
    except ValueError:
        raise GitHubError(f"GitHub answered the request for {subject} with something other than JSON.") from None


def not_found_message(subject):
    return (
        f"{subject[:1].upper()}{subject[1:]} was not found on GitHub (deleted, renamed, or not visible to this token)."
    )
