from django.urls import path

from impressions.api import ImpressionCreateApi, ImpressionSyncCreateApi

urlpatterns = [
    path("", ImpressionCreateApi.as_view(), name="impression-create"),
    path("sync/", ImpressionSyncCreateApi.as_view(), name="impression-sync-create"),
]
