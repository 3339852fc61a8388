"""ASGI entry point for daphne: HTTP through Django, websockets through Channels.

In embedded mode (no REDIS_URL) this process also runs the Dramatiq worker
thread, and the progress publisher hands events to this server's event loop,
because the in-memory channel layer is not safe to fill from another loop.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from integrations import embedded  # noqa: E402
from onboarding.routing import websocket_urlpatterns  # noqa: E402

http_app = ASGIStaticFilesHandler(django_asgi_app) if settings.SERVE_STATIC else django_asgi_app
application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

if settings.EMBEDDED:
    # On the first connection, not at import: importing this module (tests,
    # tools) must not start threads.
    application = embedded.start_on_first_call(application, worker=settings.EMBEDDED_WORKER)
