"""Root URLs: the landing page, the ingest and stats APIs, the admin with its dashboard."""

from django.contrib import admin
from django.urls import include, path

from adsite.views import healthz, landing
from stats.admin_dashboard import dashboard_view

urlpatterns = [
    path("", landing, name="landing"),
    path("healthz", healthz, name="healthz"),
    path("api/impressions/", include("impressions.urls")),
    path("api/stats/", include("stats.urls")),
    # Log-in and log-out for the browsable API (the stats API accepts the session).
    path("api/auth/", include("rest_framework.urls")),
    path("admin/dashboard/", admin.site.admin_view(dashboard_view), name="stats-dashboard"),
    path("admin/", admin.site.urls),
]
