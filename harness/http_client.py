"""A signed-in user's HTTP requests to the running app: forms with their CSRF token, no JavaScript."""

from urllib.parse import parse_qs, urlsplit

import requests


class Browser:
    """A signed-in user's HTTP requests to daphne (forms with their CSRF token, no JavaScript)."""

    def __init__(self, base_url, session):
        self.base_url = base_url
        self.session_key = session
        self.http = requests.Session()
        self.http.cookies.set("sessionid", session, domain="127.0.0.1", path="/")

    def _csrf(self):
        self.http.get(f"{self.base_url}/accounts/login/", timeout=10).raise_for_status()
        return self.http.cookies.get("csrftoken")

    def post(self, path, data):
        token = self._csrf()
        response = self.http.post(
            f"{self.base_url}{path}", data={**data, "csrfmiddlewaretoken": token}, allow_redirects=False, timeout=30
        )
        assert response.status_code == 302, f"POST {path}: {response.status_code} {response.text[:2000]}"
        return response.headers["Location"]

    def start_sync(self, github_ids):
        """Choose repositories on the onboarding page and start their sync; returns the new run's id."""
        # The page lists them first. Listed afresh: the list is cached per team id in Redis, and team
        # ids repeat from one test database to the next.
        listing = self.http.get(f"{self.base_url}/onboarding/repos/fetch/", params={"refresh": "1"}, timeout=30)
        listing.raise_for_status()
        location = self.post("/onboarding/repos/start/", {"repository": [str(i) for i in github_ids]})
        assert location.endswith("/onboarding/sync/"), location
        return self.status()["run_id"]

    def retry(self, run_id):
        """Press Retry on run ``run_id``'s page; returns the id of the run it started."""
        location = self.post("/onboarding/sync/retry/", {"run": str(run_id)})
        new = parse_qs(urlsplit(location).query).get("run", [None])[0]
        assert new is not None and int(new) != run_id, f"Retry did not start a new run: {location}"
        return int(new)

    def status(self, run_id=None):
        params = {} if run_id is None else {"run": run_id}
        response = self.http.get(f"{self.base_url}/onboarding/sync/status/", params=params, timeout=10)
        response.raise_for_status()
        return response.json()
