"""Root URLs: the landing page, the ingest and stats APIs, the admin with its dashboard."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from adsite.metrics import metrics_view
from adsite.views import healthz, landing, readyz
from impressions.demo import demo
from impressions.pixel import pixel
from stats.dashboard.views import ad_dashboard_view, dashboard_view
from stats.migration_demo.views import migration_data_view, migration_view
from stats.semantics_lab.views import semantics_lab_view

urlpatterns = [
    path("", landing, name="landing"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    # Browsers ask for /favicon.ico on every page; a 404 there is a console error.
    path("favicon.ico", RedirectView.as_view(url=static("stats/favicon.svg"), permanent=True)),
    path("demo/", demo, name="demo"),
    path("demo/migration/", admin.site.admin_view(migration_view), name="demo-migration"),
    path(
        "demo/migration/data/",
        admin.site.admin_view(migration_data_view),
        name="demo-migration-data",
    ),
    path("i.gif", pixel, name="pixel"),
    path("api/impressions/", include("impressions.urls")),
    path("api/stats/", include("stats.urls")),
    # Log-in and log-out for the browsable API (the stats API accepts the session).
    path("api/auth/", include("rest_framework.urls")),
    # OpenAPI 3 schema and Swagger UI, public. The split view serves Swagger UI's start-up
    # script as a file (/api/docs/?script=), so the page runs under CSP script-src 'self'.
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/dashboard/", admin.site.admin_view(dashboard_view), name="stats-dashboard"),
    path(
        "admin/dashboard/ads/<str:ad_id>/",
        admin.site.admin_view(ad_dashboard_view),
        name="stats-ad-dashboard",
    ),
    path(
        "admin/semantics-lab/",
        admin.site.admin_view(semantics_lab_view),
        name="stats-semantics-lab",
    ),
    path("admin/", admin.site.urls),
]
