from django.urls import path

from onboarding.consumers import SyncProgressConsumer

websocket_urlpatterns = [
    path("ws/sync/<int:run_id>/", SyncProgressConsumer.as_asgi()),
]
