"""``GET /healthz``: can this deployment sync at all? No auth, no secrets."""

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from integrations.workers import live_worker_count


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _redis():
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def _workers():
    count = live_worker_count()
    if not count:
        raise RuntimeError("no live worker: start one with `python manage.py rundramatiq`")
    return f"{count} alive"


@require_GET
@never_cache
def healthz(request):
    checks = {"database": _database, "workers": _workers}
    if not settings.EMBEDDED:
        checks = {"database": _database, "redis": _redis, "workers": _workers}
    results, failed = {}, []
    for name, check in checks.items():
        if name == "workers" and "redis" in failed:
            results[name] = {"ok": False, "detail": "unknown: Redis is down"}
            failed.append(name)
            continue
        try:
            results[name] = {"ok": True, "detail": check()}
        except Exception as exc:  # each failure is reported by name, with its class, never raised
            results[name] = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
            failed.append(name)
    body = {"status": "ok" if not failed else "failing", "failed": failed, "checks": results}
    return JsonResponse(body, status=503 if failed else 200)
