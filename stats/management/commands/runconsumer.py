"""`manage.py runconsumer`: one member of the stats-service consumer group."""

from __future__ import annotations

import logging
import socket
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
from stats.consumer.crash_points import CrashPoint
from stats.consumer.membership import InstanceIdInUse, Membership, default_instance_id
from stats.consumer.metrics import ConsumerMetrics
from stats.consumer.metrics_server import MetricsServer
from stats.consumer.semantics import (
    EXACTLY_ONCE,
    SEMANTICS,
    build_semantics_consumer,
    group_for,
    semantics_from,
)
from stats.kafka_admin import BrokerUnavailable, ensure_topics
from stats.kafka_topic_configs import topic_config_drift
from stats.models import PartitionOffset

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Consume ad impressions from Kafka into the statistics tables (Ctrl+C stops cleanly)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--topic", default=settings.IMPRESSIONS_TOPIC)
        parser.add_argument(
            "--group",
            help="consumer group (default: STATS_CONSUMER_GROUP, with -<semantics> appended "
            "for at-least-once and at-most-once)",
        )
        parser.add_argument(
            "--semantics",
            choices=SEMANTICS,
            default=EXACTLY_ONCE,
            help="delivery semantics (docs/semantics.md); the two others count into the lab's "
            "own table, never the statistics",
        )
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
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=settings.CONSUMER_METRICS_PORT,
            metavar="PORT",
            help="serve /metrics and /readyz on CONSUMER_METRICS_ADDRESS:PORT (0: no server)",
        )
        membership = parser.add_argument_group("group membership (see README: recovery)")
        membership.add_argument(
            "--instance-id",
            default=settings.CONSUMER_INSTANCE_ID or None,
            metavar="NAME",
            help="static member name, unique in the group (default: CONSUMER_INSTANCE_ID, "
            "else <hostname>-<slot>); a restart under the same name resumes at once",
        )
        membership.add_argument(
            "--slot",
            type=int,
            default=settings.CONSUMER_SLOT,
            metavar="N",
            help="this process's number on its host, for the default instance id "
            "(default: CONSUMER_SLOT, else 0)",
        )
        membership.add_argument(
            "--dynamic",
            action="store_true",
            default=not settings.CONSUMER_STATIC_MEMBERSHIP,
            help="join as a dynamic member, with no instance id (CONSUMER_STATIC_MEMBERSHIP=0)",
        )
        membership.add_argument(
            "--session-timeout-ms",
            type=int,
            default=settings.KAFKA_SESSION_TIMEOUT_MS,
            metavar="MS",
            help="how long the broker waits for a silent member (KAFKA_SESSION_TIMEOUT_MS)",
        )
        membership.add_argument(
            "--stay-on-stop",
            action="store_true",
            default=not settings.CONSUMER_LEAVE_ON_STOP,
            help="after SIGTERM a static member stays in the group until the session timeout "
            "(CONSUMER_LEAVE_ON_STOP=0): a prompt restart causes no rebalance",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        if not 0 <= options["metrics_port"] <= 65535:
            raise CommandError("--metrics-port must be a TCP port, or 0 for no metrics server")
        try:
            semantics = semantics_from(options["semantics"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        options["group"] = options["group"] or group_for(semantics, settings.STATS_CONSUMER_GROUP)
        group_field = PartitionOffset._meta.get_field("consumer_group")
        if not 0 < len(options["group"]) <= (group_field.max_length or 0):
            raise CommandError(f"--group must be 1 to {group_field.max_length} characters")
        membership = _membership(options)
        # Before anything else, so that a port in use stops it at once, and /readyz answers
        # (not ready) while the topic is checked and the group joined.
        metrics = ConsumerMetrics()
        server = self._metrics_server(metrics, options["metrics_port"])
        try:
            code = self._consume(options, membership, metrics)
        finally:
            if server is not None:
                server.close()
        if code:
            raise CommandError("the consumer stopped without partitions", returncode=code)

    def _consume(
        self, options: dict[str, Any], membership: Membership, metrics: ConsumerMetrics
    ) -> int:
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
        _warn_about_topic_configs(options["topic"])
        semantics, crash = semantics_from(options["semantics"]), lab_crash_point()
        default = semantics == EXACTLY_ONCE and crash is None  # today's path, unchanged
        config = ConsumerConfig(
            topic=options["topic"],
            group=options["group"],
            batch_size=options["batch_size"],
            progress_interval=options["progress_interval"],
            exit_when_idle=options["exit_when_idle"],
            membership=membership,
            # Progress in time is kept with the statistics' ledger: exactly-once's alone.
            mark_interval=settings.STATS_PROGRESS_INTERVAL_SECONDS
            if semantics == EXACTLY_ONCE
            else None,
        )
        try:
            if default:
                consumer = build_consumer(
                    config, bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS, metrics=metrics
                )
            else:
                consumer = build_semantics_consumer(
                    config,
                    semantics=semantics,
                    bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
                    crash=crash,
                    metrics=metrics,
                )
        except BrokerFailure as exc:
            raise CommandError(f"could not join group {config.group}: {exc}") from exc
        with stop_on_signals(consumer):
            try:
                return consumer.run()
            except LedgerDoesNotMatchTopic as exc:
                raise CommandError(str(exc), returncode=2) from exc
            except InstanceIdInUse as exc:
                raise CommandError(str(exc), returncode=3) from exc

    def _metrics_server(self, metrics: ConsumerMetrics, port: int) -> MetricsServer | None:
        if not port:
            return None
        address = settings.CONSUMER_METRICS_ADDRESS
        try:
            return MetricsServer(metrics, address=address, port=port)
        except OSError as exc:
            raise CommandError(
                f"cannot serve metrics on {address}:{port} ({exc}); choose another "
                "--metrics-port or CONSUMER_METRICS_ADDRESS"
            ) from exc


def _warn_about_topic_configs(topic: str) -> None:
    """A topic whose retention differs from the settings is reported, not changed."""
    try:
        for problem in topic_config_drift(topic):
            logger.warning("%s", problem)
    except BrokerUnavailable as exc:
        logger.warning("could not compare the topics' retention with the settings: %s", exc)


def _membership(options: dict[str, Any]) -> Membership:
    """The group identity the options ask for; CommandError when Kafka would refuse it."""
    try:
        if options["dynamic"]:
            instance_id = None
        else:
            instance_id = options["instance_id"] or default_instance_id(
                hostname=socket.gethostname(), slot=options["slot"]
            )
        return Membership(
            instance_id=instance_id,
            session_timeout_ms=options["session_timeout_ms"],
            leave_on_stop=not options["stay_on_stop"],
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


def lab_crash_point() -> CrashPoint | None:
    """The semantics lab's crash point from STATS_LAB_CRASH_POINT/BATCH; None when unset."""
    if settings.STATS_LAB_CRASH_POINT is None:
        return None
    logger.warning(
        "lab crash point set: SIGKILL at %s of batch %d (STATS_LAB_CRASH_POINT)",
        settings.STATS_LAB_CRASH_POINT, settings.STATS_LAB_CRASH_BATCH,
    )  # fmt: skip
    return CrashPoint(settings.STATS_LAB_CRASH_POINT, settings.STATS_LAB_CRASH_BATCH)
