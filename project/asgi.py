"""ASGI entry point for daphne: HTTP through Django, websockets through Channels.

In embedded mode (no REDIS_URL) this process also runs the Dramatiq worker
thread, and the progress publisher hands events to this server's event loop,
because the in-memory channel layer is not safe to fill from another loop.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from integrations import embedded  # noqa: E402

application = ProtocolTypeRouter({"http": django_asgi_app})

if settings.EMBEDDED:
    application = embedded.bind_loop_on_first_call(application)
    if settings.EMBEDDED_WORKER:
        embedded.start_worker()
