from django.urls import path

from stats.api import AdSeriesApi, AdStatsDetailApi, AdStatsListApi, PipelineApi

urlpatterns = [
    path("ads/", AdStatsListApi.as_view(), name="stats-ad-list"),
    path("ads/<str:ad_id>/", AdStatsDetailApi.as_view(), name="stats-ad-detail"),
    path("ads/<str:ad_id>/series/", AdSeriesApi.as_view(), name="stats-ad-series"),
    path("pipeline/", PipelineApi.as_view(), name="stats-pipeline"),
]
