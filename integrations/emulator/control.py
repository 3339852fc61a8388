"""``/_emulator/*``: unauthenticated endpoints for tests, demos and benchmarks.

Not counted in the stats and never subject to faults or latency.
"""

from __future__ import annotations

import re

from .wire import Request, Response, json_response


def _error(status: int, message: str) -> Response:
    return json_response(status, {"message": message})


class Control:
    def __init__(self, app):
        self.app = app

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        method = request.method
        try:
            body = request.json() if method in ("POST", "PUT") else None
        except ValueError:
            return _error(400, "Problems parsing JSON")
        try:
            return self._route(method, path, request, body)
        except KeyError as exc:
            return _error(404, f"Not Found: {exc.args[0] if exc.args else path}")
        except (TypeError, ValueError) as exc:
            return _error(422, str(exc))

    def _route(self, method, path, request, body) -> Response:
        app = self.app
        world = app.world
        if path == "/_emulator/health":
            return json_response(200, {"ok": True, "url": app.base_url, "orgs": world.orgs})
        if path == "/_emulator/stats" and method == "GET":
            return json_response(200, app.stats.as_json())
        if path == "/_emulator/stats/reset" and method == "POST":
            app.stats.reset()
            return json_response(200, app.stats.as_json())
        if path == "/_emulator/faults":
            if method == "GET":
                return json_response(200, {"faults": app.faults.list()})
            if method == "DELETE":
                app.faults.clear()
                return json_response(200, {"faults": []})
            if method == "POST":
                specs = body if isinstance(body, list) else [body]
                added = [app.faults.add(spec).as_json() for spec in specs]
                return json_response(201, {"faults": added})
        if path == "/_emulator/faults/clear" and method == "POST":
            app.faults.clear()
            return json_response(200, {"faults": []})
        if path == "/_emulator/config":
            if method == "POST":
                body = body or {}
                if "latency_ms" in body:
                    app.latency_ms = max(0, int(body["latency_ms"]))
            return json_response(200, {"latency_ms": app.latency_ms})
        if path == "/_emulator/rate_limit/reset" and method == "POST":
            app.limiter.reset()
            return json_response(200, {"ok": True})
        if path == "/_emulator/tokens":
            if method == "POST":
                app.add_token(str(body["token"]), (body or {}).get("scopes"))
            return json_response(200, {"tokens": sorted(app.tokens)})
        if method == "POST" and path in ("/_emulator/repos/touch", "/_emulator/repos/add_prs"):
            full_name, count = body["full_name"], int(body.get("count", 1))
            if path.endswith("touch"):
                numbers = world.touch_prs(full_name, count, numbers=body.get("numbers"))
            else:
                numbers = world.add_prs(full_name, count)
            return json_response(200, {"numbers": numbers})
        if path == "/_emulator/repos/delete" and method == "POST":
            world.delete_repo(body["full_name"])
            return json_response(200, {"deleted": body["full_name"]})
        if method == "GET":
            found = re.fullmatch(r"/_emulator/export/orgs/([^/]+)/members", path)
            if found:
                return json_response(200, world.export_members(found.group(1)))
            found = re.fullmatch(r"/_emulator/export/([^/]+)/([^/]+)", path)
            if found:
                return json_response(200, world.export_repo(f"{found.group(1)}/{found.group(2)}"))
        return _error(404, "Not Found")
