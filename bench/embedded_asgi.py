"""Embedded mode for the live scenario: the product's ASGI application plus one harness endpoint.

``daphne bench.embedded_asgi:application`` serves ``project.asgi.application``
unchanged, with every request (pages, websockets) going to it, except
``POST /_bench/publish``: that runs ``bench.djtasks.publish`` in a thread of
this process, as the embedded worker thread runs a sync, because in
embedded mode the channel layer is in memory and only this process can
publish to its sockets. ``send_event`` hands each event to the server's loop
exactly as it does for the worker thread (``progress.bind_event_loop``,
done by the product on its first request). The answer is the publish
times by seq. The harness serves it on 127.0.0.1 only; the product never
imports this module.
"""

from __future__ import annotations

import asyncio
import json
import threading

from project.asgi import application as product


async def _read_body(receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _respond(send, status: int, value) -> None:
    payload = json.dumps(value, default=str).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _publish(receive, send) -> None:
    from bench import djtasks
    from integrations.sync import progress

    params = json.loads(await _read_body(receive) or b"{}")
    if progress._server_loop is None:
        await _respond(send, 503, {"error": "no request reached the product yet: its loop is not bound"})
        return
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def work():
        try:
            result = djtasks.publish(
                params["run_id"], params["token"], params["count"], params["interval"], params.get("start_at", 0.0)
            )
            loop.call_soon_threadsafe(done.set_result, result)
        except Exception as exc:  # noqa: BLE001 - reported to the harness
            loop.call_soon_threadsafe(done.set_exception, exc)

    threading.Thread(target=work, name="bench-publisher", daemon=True).start()
    try:
        result = await done
    except Exception as exc:  # noqa: BLE001
        await _respond(send, 500, {"error": f"{type(exc).__name__}: {exc}"})
        return
    await _respond(send, 200, result)


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/_bench/publish" and scope["method"] == "POST":
        await _publish(receive, send)
        return
    await product(scope, receive, send)
