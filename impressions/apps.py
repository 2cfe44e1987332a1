from django.apps import AppConfig


class ImpressionsConfig(AppConfig):
    name = "impressions"
    verbose_name = "Impressions (ingest)"
