"""Request and response values passed between the HTTP server and handlers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    client: str = ""

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self):
        """The JSON body (None if empty); ValueError if malformed."""
        if not self.body.strip():
            return None
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        """Form-encoded or JSON body merged over the query string."""
        params = {k: v[-1] for k, v in self.query.items()}
        content_type = self.headers.get("content-type", "")
        if "json" in content_type:
            try:
                data = self.json() or {}
            except ValueError:
                data = {}
            if isinstance(data, dict):
                params.update({k: str(v) for k, v in data.items() if v is not None})
        else:
            params.update({k: v[-1] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()})
        return params


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"


def json_response(status: int, payload, headers: dict | None = None) -> Response:
    # GitHub sends raw UTF-8, not \u escapes.
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(status, body, dict(headers or {}))


def html_response(status: int, html: str, headers: dict | None = None) -> Response:
    return Response(status, html.encode(), dict(headers or {}), "text/html; charset=utf-8")


class Hang:
    """Marker: do not answer (the ``hang`` fault) until faults are cleared."""

    def __init__(self, fault):
        self.fault = fault
