"""/healthz: whether this deployment can sync at all, for load balancers and operators."""

import pytest

from integrations import embedded
from tests.conftest import TEST_TOKEN

pytestmark = pytest.mark.django_db


def test_embedded_mode_without_a_worker_thread_is_unhealthy(client):
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["workers"]
    assert body["checks"]["database"] == {"ok": True, "detail": "ok"}
    assert "rundramatiq" in body["checks"]["workers"]["detail"]


def test_embedded_mode_with_its_worker_thread_is_healthy(client):
    embedded.start_worker(threads=1)
    try:
        response = client.get("/healthz")
    finally:
        embedded.stop_worker()

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["checks"]["workers"]["detail"] == "1 alive"


def test_redis_down_answers_503_naming_redis(client, settings):
    settings.EMBEDDED = False
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["redis", "workers"]
    assert "ConnectionError" in body["checks"]["redis"]["detail"]
    assert body["checks"]["database"]["ok"]


def test_healthz_needs_no_login_and_shows_no_secret(client, settings):
    response = client.get("/healthz")
    text = response.content.decode()
    assert response.status_code in (200, 503)
    assert TEST_TOKEN not in text
    assert settings.SECRET_KEY not in text
    assert not any(key in text for key in settings.FERNET_KEYS)
