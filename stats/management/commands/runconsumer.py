"""`manage.py runconsumer`: one member of the stats-service consumer group."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from stats.consumer import (
    BrokerFailure,
    ConsumerConfig,
    LedgerDoesNotMatchTopic,
    build_consumer,
    stop_on_signals,
)
from stats.kafka_admin import BrokerUnavailable, ensure_topics
from stats.models import PartitionOffset


class Command(BaseCommand):
    help = "Consume ad impressions from Kafka into the statistics tables (Ctrl+C stops cleanly)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--topic", default=settings.IMPRESSIONS_TOPIC)
        parser.add_argument("--group", default=settings.STATS_CONSUMER_GROUP)
        parser.add_argument("--batch-size", type=int, default=5000, help="max records per poll")
        parser.add_argument(
            "--exit-when-idle",
            type=float,
            metavar="SECONDS",
            help="drain what is there, then exit 0 after SECONDS without new records",
        )
        parser.add_argument("--progress-interval", type=float, default=10.0, metavar="SECONDS")
        parser.add_argument(
            "--no-create-topic",
            action="store_true",
            help="do not create the topic (IMPRESSIONS_TOPIC_PARTITIONS partitions) when missing",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        group_field = PartitionOffset._meta.get_field("consumer_group")
        if not 0 < len(options["group"]) <= (group_field.max_length or 0):
            raise CommandError(f"--group must be 1 to {group_field.max_length} characters")
        create = not options["no_create_topic"]
        try:
            missing = ensure_topics(
                topic=options["topic"],
                partitions=settings.IMPRESSIONS_TOPIC_PARTITIONS,
                replication_factor=settings.KAFKA_REPLICATION_FACTOR,
                create=create,
            )
        except BrokerUnavailable as exc:
            raise CommandError(str(exc)) from exc
        if missing and not create:
            raise CommandError(
                f"missing topics {', '.join(missing)}: create them (the dead-letter topic too) "
                "or run without --no-create-topic"
            )
        config = ConsumerConfig(
            topic=options["topic"],
            group=options["group"],
            batch_size=options["batch_size"],
            progress_interval=options["progress_interval"],
            exit_when_idle=options["exit_when_idle"],
        )
        try:
            consumer = build_consumer(config, bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS)
        except BrokerFailure as exc:
            raise CommandError(f"could not join group {config.group}: {exc}") from exc
        with stop_on_signals(consumer):
            try:
                code = consumer.run()
            except LedgerDoesNotMatchTopic as exc:
                raise CommandError(str(exc), returncode=2) from exc
        if code:
            raise CommandError("the consumer stopped without partitions", returncode=code)
