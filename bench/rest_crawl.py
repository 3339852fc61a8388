"""A plain REST crawl of an organisation's pull requests, as REST-based syncers do it.

The baseline of the ``api`` scenario: the same data the product's sync
stores (every pull request with additions, deletions, changed files, commit
count and every review, plus the organisation's members), fetched the way a
syncer without GraphQL must:

- ``GET /orgs/{org}/repos?per_page=100``, every page
- per repository ``GET /repos/{o}/{r}/pulls?state=all&per_page=100``, every
  page (following ``Link: rel="next"``)
- per pull request ``GET /repos/{o}/{r}/pulls/{n}`` (the list omits
  additions, deletions, changed files and commits) and
  ``GET /repos/{o}/{r}/pulls/{n}/reviews?per_page=100``, every page
- ``GET /orgs/{org}/members?per_page=100``, every page

One ``requests.Session`` per thread; a few threads because it is slow. The
emulator enforces GitHub's 5,000 requests per hour: with ``refill`` (the
emulator's rate-limit reset) the crawl refills the budget every
``refill_every`` requests instead of waiting an hour, and reports how many
hours of budget it used.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote

import requests

HOURLY_BUDGET = 5000


class CrawlError(RuntimeError):
    pass


@dataclass
class CrawlResult:
    repositories: int = 0
    pull_requests: int = 0
    reviews: int = 0
    members: int = 0
    additions: int = 0  # a checksum of the details pages
    requests: int = 0  # as counted by the crawler (the figures use the emulator's count)
    refills: int = 0
    seconds: float = 0.0

    @property
    def budget_hours(self) -> float:
        return self.requests / HOURLY_BUDGET


class RestCrawler:
    def __init__(self, api_url: str, token: str, *, threads: int = 4, refill=None, refill_every: int = 4000):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.threads = threads
        self.refill = refill
        self.refill_every = refill_every
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self.result = CrawlResult()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(
                {
                    "Authorization": f"Bearer {self.token}",
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": "2022-11-28",
                    "User-Agent": "bench-rest-crawl",
                }
            )
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def get(self, url: str, params=None) -> requests.Response:
        with self._lock:
            if self.refill is not None and self.result.requests and self.result.requests % self.refill_every == 0:
                self.refill()
                self.result.refills += 1
            self.result.requests += 1
        response = self._session().get(url, params=params, timeout=(5, 120))
        if response.status_code != 200:
            raise CrawlError(f"GET {response.url} answered {response.status_code}: {response.text[:300]}")
        return response

    def pages(self, path: str, params=None):
        """Every item of a REST list, following ``Link: rel="next"``."""
        url = f"{self.api_url}{path}"
        while url:
            response = self.get(url, params)
            yield from response.json()
            url = response.links.get("next", {}).get("url")
            params = None  # the next link carries the query string

    def crawl(self, org: str) -> CrawlResult:
        started = time.monotonic()
        result = self.result
        try:
            repos = list(self.pages(f"/orgs/{quote(org)}/repos", {"per_page": 100}))
            result.repositories = len(repos)
            result.members = sum(1 for _ in self.pages(f"/orgs/{quote(org)}/members", {"per_page": 100}))
            with ThreadPoolExecutor(self.threads, thread_name_prefix="rest-crawl") as pool:
                listings = list(pool.map(self._list_pulls, [r["full_name"] for r in repos]))
                work = [(full_name, pr["number"]) for full_name, prs in listings for pr in prs]
                for additions, reviews in pool.map(self._pull_request, work):
                    result.pull_requests += 1
                    result.additions += additions
                    result.reviews += reviews
        finally:
            for session in self._sessions:
                session.close()
            result.seconds = time.monotonic() - started
        return result

    def _list_pulls(self, full_name: str):
        owner, _, name = full_name.partition("/")
        path = f"/repos/{quote(owner)}/{quote(name)}/pulls"
        return full_name, [{"number": pr["number"]} for pr in self.pages(path, {"state": "all", "per_page": 100})]

    def _pull_request(self, item) -> tuple[int, int]:
        full_name, number = item
        owner, _, name = full_name.partition("/")
        base = f"/repos/{quote(owner)}/{quote(name)}/pulls/{number}"
        details = self.get(f"{self.api_url}{base}").json()
        for key in ("additions", "deletions", "changed_files", "commits"):
            if not isinstance(details.get(key), int):
                raise CrawlError(f"{full_name}#{number} has no {key} in its details")
        reviews = sum(1 for _ in self.pages(f"{base}/reviews", {"per_page": 100}))
        return details["additions"], reviews


def crawl(api_url: str, token: str, org: str, **options) -> CrawlResult:
    return RestCrawler(api_url, token, **options).crawl(org)
