"""Root URLs: the ingest API, the stats API and the admin with its dashboard."""

from django.contrib import admin
from django.urls import include, path

from stats.admin_dashboard import dashboard_view

urlpatterns = [
    path("api/impressions/", include("impressions.urls")),
    path("api/stats/", include("stats.urls")),
    path("admin/dashboard/", admin.site.admin_view(dashboard_view), name="stats-dashboard"),
    path("admin/", admin.site.urls),
]
