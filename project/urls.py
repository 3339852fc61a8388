from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from integrations.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("onboarding/", include("onboarding.urls")),
    path("", RedirectView.as_view(url="/onboarding/", permanent=False)),
]
