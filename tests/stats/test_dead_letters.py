"""Dead-letter triage on the real broker and database: Spring's headers on `.dlq`, the admin's
list (mirrored from the topic), replay, fix and replay, discard with a note, JSON export, and
the breaker in a consumer process."""

from __future__ import annotations

import json
import signal
import struct
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from rest_framework.test import APIClient

from impressions.models import Impression
from stats.kafka_admin import dead_letter_topic
from stats.models import DeadLetter, PartitionOffset
from stats.selectors import open_breakers
from tests.conftest import read_topic
from tests.stats.topic_data import counted_per_ad, database_refuses, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CHANGELIST = "admin:stats_deadletter_changelist"
GOOD = {"schema_version": 1, "ad_id": "ad-d", "user_id": "u", "timestamp": "2026-11-25T08:00:00Z"}
MALFORMED = [
    b"{not json <script>alert(1)</script>",
    json.dumps(
        {k: v for k, v in GOOD.items() if k != "user_id"} | {"event_id": str(uuid.uuid4())}
    ).encode(),
    json.dumps(GOOD | {"event_id": str(uuid.uuid4()), "user_id": 12345}).encode(),
]


def event(**fields: Any) -> bytes:
    return json.dumps(GOOD | {"event_id": str(uuid.uuid4())} | fields).encode()


@pytest.fixture
def admin_client(staff_user: Any) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def produce(raw_producer: KafkaProducer, topic: str) -> Callable[[list[bytes]], None]:
    def send(values: list[bytes]) -> None:
        for value in values:  # one partition, so in this order
            raw_producer.send(topic, key=b"ad-d", value=value, partition=0)
        raw_producer.flush()

    return send


def letters(**filters: Any) -> list[DeadLetter]:
    return list(DeadLetter.objects.filter(**filters).order_by("dlq_partition", "dlq_offset"))


def test_malformed_records_appear_in_the_admin_list_with_their_reason_and_spring_headers(
    produce: Callable[[list[bytes]], None],
    topic: str,
    group: str,
    run_consumer: Callable[..., None],
    kafka_servers: list[str],
    admin_client: Client,
) -> None:
    produce([event(), *MALFORMED, event()])
    run_consumer()
    assert counted_per_ad() == {"ad-d": 2}

    dead = read_topic(kafka_servers, dead_letter_topic(topic), expect=3)
    assert [r.value for r in dead] == MALFORMED
    for record, offset in zip(dead, [1, 2, 3], strict=True):
        headers = dict(record.headers)
        assert headers["kafka_dlt-original-topic"] == topic.encode()
        assert headers["kafka_dlt-original-partition"] == struct.pack(">i", 0)
        assert headers["kafka_dlt-original-offset"] == struct.pack(">q", offset)
        assert struct.unpack(">q", headers["kafka_dlt-original-timestamp"])[0] > 1_700_000_000_000
        assert headers["kafka_dlt-original-timestamp-type"] == b"CREATE_TIME"
        assert headers["kafka_dlt-original-consumer-group"] == group.encode()
        assert headers["kafka_dlt-exception-message"] == headers["dlq.reason"]
        assert headers["dlq.source"] == f"{topic}/0/{offset}".encode()  # kept as it was

    page = admin_client.get(reverse(CHANGELIST))  # opening the page mirrors the topic
    assert page.status_code == 200
    mirrored = letters(source_topic=topic)
    assert [(d.source_partition, d.source_offset) for d in mirrored] == [(0, 1), (0, 2), (0, 3)]
    assert [d.reason_kind for d in mirrored] == ["not valid JSON", "user_id", "user_id"]
    assert all(d.status == "new" and d.consumer_group == group for d in mirrored)
    html = page.content.decode()
    for letter in mirrored:
        assert letter.reason[:60] in html.replace("&#x27;", "'").replace("&quot;", '"')
    for linked_from in (reverse("admin:index"), reverse("stats-dashboard")):
        assert 'id="dead-letters-link"' in admin_client.get(linked_from).content.decode()

    detail = admin_client.get(reverse("admin:stats_deadletter_change", args=[mirrored[0].pk]))
    assert detail.status_code == 200
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in detail.content  # the payload, escaped
    assert b"<script>alert(1)" not in detail.content
    assert b"ad-d" in detail.content  # the key

    filtered = admin_client.get(reverse(CHANGELIST), {"reason_kind": "user_id"})
    assert filtered.context["cl"].result_count == 2
    assert admin_client.get(reverse(CHANGELIST), {"nosuch": "1"}).status_code in (200, 302)

    again = admin_client.get(reverse(CHANGELIST))  # a second sync adds nothing
    assert again.context["cl"].result_count == 3 and DeadLetter.objects.count() == 3


@pytest.fixture
def refused(
    db: None, produce: Callable[[list[bytes]], None], run_consumer: Callable[..., None]
) -> Iterator[None]:
    """Three valid events the database refused (a rule, since lifted): dead letters that a
    replay can count now, as after fixing a bad deploy."""
    produce([event(user_id="ok-1"), *[event(user_id="blocked") for _ in range(3)]])
    with database_refuses(Impression._meta.db_table, "user_id", "blocked"):
        run_consumer()
    yield


def test_replaying_fixed_records_counts_them_once_however_often_replayed(
    refused: None,
    produce: Callable[[list[bytes]], None],
    topic: str,
    run_consumer: Callable[..., None],
    admin_client: Client,
    kafka_servers: list[str],
    staff_user: Any,
) -> None:
    assert counted_per_ad() == {"ad-d": 1}
    admin_client.get(reverse(CHANGELIST))
    assert [d.reason_kind for d in letters()] == ["database refused"] * 3

    # Replay everything the filter matches (the admin's "select all"), then consume.
    url = reverse(CHANGELIST) + "?reason_kind=database+refused"
    one = letters()[0].pk  # the browser sends the page's checked rows with "select all"
    answer = admin_client.post(
        url, {"action": "replay", "select_across": "1", "index": "0", "_selected_action": one}
    )
    assert answer.status_code == 302
    assert all(d.status == "replayed" and d.replayed_by == staff_user for d in letters())
    run_consumer()
    assert counted_per_ad() == {"ad-d": 4}  # exactly the three replayed events
    replayed = read_topic(kafka_servers, topic, expect=7)[4:]
    assert [dict(r.headers)["dlq.replay-count"] for r in replayed] == [b"1"] * 3
    assert [r.partition for r in replayed] == [0, 0, 0]

    # Replaying the same ones again changes no statistic.
    ids = [str(d.pk) for d in letters()]
    admin_client.post(reverse(CHANGELIST), {"action": "replay", "_selected_action": ids})
    run_consumer()
    assert counted_per_ad() == {"ad-d": 4}
    assert Impression.objects.count() == 4

    # A record that is still invalid goes to .dlq again, mirrored with its replay count.
    produce([MALFORMED[0]])
    run_consumer()
    admin_client.get(reverse(CHANGELIST))
    (bad,) = letters(reason_kind="not valid JSON")
    admin_client.post(reverse(CHANGELIST), {"action": "replay", "_selected_action": [bad.pk]})
    run_consumer()
    admin_client.get(reverse(CHANGELIST))
    (first, second) = letters(reason_kind="not valid JSON")
    assert (first.replay_count, first.status) == (0, "replayed")
    assert (second.replay_count, second.status) == (1, "new")
    assert second.value is not None and bytes(second.value) == MALFORMED[0]


def test_discarding_needs_a_note_and_records_who_and_when(
    refused: None, admin_client: Client, staff_user: Any
) -> None:
    admin_client.get(reverse(CHANGELIST))
    first, *rest = letters()
    data = {"action": "discard", "_selected_action": [first.pk], "apply": "1", "note": "  "}
    blank = admin_client.post(reverse(CHANGELIST), data)
    assert blank.status_code == 200 and b"This field is required" in blank.content
    assert letters(status="discarded") == []

    asked = admin_client.post(
        reverse(CHANGELIST), {"action": "discard", "_selected_action": [first.pk]}
    )
    assert b'name="note"' in asked.content  # the action asks for the note first

    done = admin_client.post(reverse(CHANGELIST), data | {"note": "test traffic from QA"})
    assert done.status_code == 302
    (discarded,) = letters(status="discarded")
    assert discarded.pk == first.pk
    assert discarded.discarded_by == staff_user and discarded.discarded_at is not None
    assert discarded.discard_note == "test traffic from QA"
    assert all(d.status == "new" for d in rest)

    # A discarded letter is not replayed, even when "all" are.
    everything = {"action": "replay", "select_across": "1", "_selected_action": rest[0].pk}
    admin_client.post(reverse(CHANGELIST), everything)
    assert letters(pk=first.pk)[0].status == "discarded"


def test_export_gives_json_of_the_selected_or_filtered_letters(
    refused: None, admin_client: Client
) -> None:
    admin_client.get(reverse(CHANGELIST))
    first, second, third = letters()
    answer = admin_client.post(
        reverse(CHANGELIST), {"action": "export_json", "_selected_action": [first.pk, third.pk]}
    )
    assert answer["Content-Type"] == "application/json"
    assert "attachment" in answer["Content-Disposition"]
    exported = json.loads(answer.content)["dead_letters"]
    assert {e["dlq"]["offset"] for e in exported} == {first.dlq_offset, third.dlq_offset}
    assert json.loads(exported[0]["value"])["user_id"] == "blocked"
    assert exported[0]["key"] == "ad-d" and exported[0]["status"] == "new"
    assert exported[0]["reason"].startswith("database refused")

    admin_client.post(reverse(CHANGELIST), {"action": "replay", "_selected_action": [second.pk]})
    matching = admin_client.get(
        reverse("admin:stats_deadletter_export"), {"status__exact": "replayed"}
    )
    assert [e["dlq"]["offset"] for e in json.loads(matching.content)["dead_letters"]] == [
        second.dlq_offset
    ]
    bad = admin_client.get(reverse("admin:stats_deadletter_export"), {"dead_lettered_at__gte": "x"})
    assert bad.status_code == 400


def test_a_consumer_process_stops_dead_lettering_a_run_of_invalid_records(
    produce: Callable[[list[bytes]], None],
    topic: str,
    group: str,
    consumer_process: Callable[..., subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
    kafka_servers: list[str],
) -> None:
    produce([event() for _ in range(5)] + [b"{broken" for _ in range(60)])
    monkeypatch.setenv("DEAD_LETTER_BREAKER_WINDOW", "20")  # more than 10 of the last 20
    proc = consumer_process("--batch-size", "5")
    wait_for(
        lambda: bool(open_breakers(consumer_group=group, topic=topic)), "the breaker", proc=proc
    )

    (reason,) = open_breakers(consumer_group=group, topic=topic)
    assert reason.startswith(f"{topic}[0] held at offset ") and "records were invalid" in reason
    held_at = int(reason.split("held at offset ")[1].split()[0])
    ledger = PartitionOffset.objects.get(consumer_group=group, topic=topic, partition=0)
    assert ledger.next_offset == held_at <= 5 + 10  # nothing moved past the held records
    assert len(read_topic(kafka_servers, dead_letter_topic(topic), expect=61, timeout_s=3)) == (
        held_at - 5
    )
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert open_breakers(consumer_group=group, topic=topic) == []  # a stopped consumer holds none

    # The records really are bad: the operator turns the breaker off for one run.
    monkeypatch.setenv("DEAD_LETTER_BREAKER_SHARE", "1")
    assert consumer_process("--exit-when-idle", "2").wait(timeout=120) == 0
    dead = read_topic(kafka_servers, dead_letter_topic(topic), expect=60)
    offsets = [struct.unpack(">q", dict(r.headers)["kafka_dlt-original-offset"])[0] for r in dead]
    assert sorted(offsets) == list(range(5, 65))  # each once


FIX_URL = "admin:stats_deadletter_fix"


def fixed(**fields: Any) -> str:
    """A valid event (for ad-fix) with a client-chosen event id, as an operator would type it."""
    chosen = {"ad_id": "ad-fix", "event_id": str(uuid.uuid4())}
    return json.dumps(GOOD | chosen | fields, indent=2)


def by_source_offset() -> list[DeadLetter]:
    """The letters in the order of their source records (the .dlq partition follows the key)."""
    return list(DeadLetter.objects.order_by("source_partition", "source_offset"))


def api_total(client: APIClient, ad_id: str) -> int:
    answer = client.get(f"/api/stats/ads/{ad_id}/", {"from": "2000-01-01"})
    assert answer.status_code == 200
    return int(answer.json()["impressions"])


def end_offsets(servers: list[str], topic: str) -> dict[int, int]:
    reader = KafkaConsumer(bootstrap_servers=servers, group_id=None)
    try:
        wanted = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic))]
        return {tp.partition: offset for tp, offset in reader.end_offsets(wanted).items()}
    finally:
        reader.close()


def test_fixing_three_malformed_records_counts_exactly_those_events_once(
    raw_producer: KafkaProducer,
    topic: str,
    run_consumer: Callable[..., None],
    admin_client: Client,
    stats_client: APIClient,
    kafka_servers: list[str],
    staff_user: Any,
) -> None:
    # The test: 3 malformed records, listed with their reasons; their fixed copies
    # raise the statistics by exactly 3; replaying them again changes nothing.
    raw_producer.send(topic, key=b"ad-fix", value=event(ad_id="ad-fix"), partition=0)
    malformed = [
        (b"bad ad!", event(ad_id="bad ad!")),  # the key is no ad id either
        (b"ad-fix", event(ad_id="ad-fix", user_id=12345)),
        (None, event(ad_id="ad-fix", timestamp="the day before yesterday")),  # no key
    ]
    for key, value in malformed:
        raw_producer.send(topic, key=key, value=value, partition=0)
    raw_producer.flush()
    run_consumer()
    assert api_total(stats_client, "ad-fix") == 1

    page = admin_client.get(reverse(CHANGELIST))
    dead = by_source_offset()
    assert [d.reason_kind for d in dead] == ["ad_id", "user_id", "timestamp"]
    assert [bytes(d.value or b"") for d in dead] == [value for _, value in malformed]
    html = page.content.decode().replace("&#x27;", "'").replace("&quot;", '"')
    assert all(d.reason[:60] in html for d in dead)

    fixes = [fixed(), fixed(user_id="user-12345"), fixed(timestamp="2026-11-25T09:00:00Z")]
    for letter, fix in zip(dead, fixes, strict=True):
        detail = admin_client.get(reverse("admin:stats_deadletter_change", args=[letter.pk]))
        fix_url = reverse(FIX_URL, args=[letter.pk])
        assert f'href="{fix_url}" id="fix-and-replay"' in detail.content.decode()
        form = admin_client.get(fix_url)
        assert form.context["form"].initial["value"] == bytes(letter.value or b"").decode()
        answer = admin_client.post(fix_url, {"value": fix})
        assert answer.status_code == 302, answer.content.decode()[:2000]
    dead = by_source_offset()
    assert all(d.status == "replayed" and d.replayed_by == staff_user for d in dead)
    assert [bytes(d.fixed_value or b"").decode() for d in dead] == fixes

    run_consumer()
    assert api_total(stats_client, "ad-fix") == 4  # exactly the three fixed events
    replayed = [r for r in read_topic(kafka_servers, topic, expect=7) if r.headers]
    assert sorted(r.value.decode() for r in replayed) == sorted(fixes)
    keys = {r.value.decode(): r.key for r in replayed}
    assert [keys[f] for f in fixes] == [b"ad-fix", b"ad-fix", b"ad-fix"]  # original or derived
    for record in replayed:
        headers = dict(record.headers)
        assert headers["dlq.replay-count"] == b"1" and headers["dlq.edited-by"] == b"staff"
        assert headers["dlq.replayed-from"].startswith(dead_letter_topic(topic).encode())

    # The same fixed copies again, through the form and through the list's replay action.
    for letter, fix in zip(dead, fixes, strict=True):
        assert (
            admin_client.post(reverse(FIX_URL, args=[letter.pk]), {"value": fix}).status_code == 302
        )
    ids = [str(d.pk) for d in dead]
    admin_client.post(reverse(CHANGELIST), {"action": "replay", "_selected_action": ids})
    run_consumer()
    assert api_total(stats_client, "ad-fix") == 4
    admin_client.get(reverse(CHANGELIST))
    assert DeadLetter.objects.count() == 3  # the fixed copies were valid: no new dead letter
    assert len(read_topic(kafka_servers, topic, expect=13, timeout_s=5)) == 13


def test_an_invalid_fix_is_refused_with_the_contracts_reason_and_publishes_nothing(
    raw_producer: KafkaProducer,
    topic: str,
    run_consumer: Callable[..., None],
    admin_client: Client,
    kafka_servers: list[str],
) -> None:
    published = int(datetime(2026, 11, 1, 12, tzinfo=UTC).timestamp() * 1000)
    raw_producer.send(topic, key=b"ad-d", value=MALFORMED[0], partition=0, timestamp_ms=published)
    raw_producer.send(topic, key=b"ad-d", value=b'{"ad_id": "\xff\xfe', partition=0)
    raw_producer.flush()
    run_consumer()
    admin_client.get(reverse(CHANGELIST))
    letter = next(d for d in letters() if bytes(d.value or b"") == MALFORMED[0])
    url = reverse(FIX_URL, args=[letter.pk])

    form = admin_client.get(url)
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in form.content  # prefilled, escaped
    assert b"<script>alert(1)" not in form.content
    before = end_offsets(kafka_servers, topic)

    # Judged at the original record's time (1 Nov), as the consumer judged it: an event of
    # 20 Nov was in the future then, though it is in the past now.
    later = admin_client.post(url, {"value": fixed(timestamp="2026-11-20T00:00:00Z")})
    assert later.status_code == 200
    assert "timestamp" in later.context["form"].errors["value"][0]
    wrong = admin_client.post(url, {"value": fixed(user_id=5)})
    assert wrong.status_code == 200
    reason = wrong.context["form"].errors["value"][0]
    assert reason.startswith("Not replayed: user_id") and b"user_id" in wrong.content
    broken = admin_client.post(url, {"value": "{"})
    assert "not valid JSON" in broken.context["form"].errors["value"][0]
    assert end_offsets(kafka_servers, topic) == before  # nothing published
    letter.refresh_from_db()
    assert (letter.status, letter.fixed_value, letter.replayed_by) == ("new", None, None)

    # A value that is not UTF-8 is shown with replacement characters, and said to be.
    raw = next(d for d in letters() if b"\xff" in bytes(d.value or b""))
    shown = admin_client.get(reverse(FIX_URL, args=[raw.pk]))
    assert "\ufffd" in shown.context["form"].initial["value"]
    assert b'id="fix-not-utf8"' in shown.content

    # Staff without the triage permission neither see the link nor reach the form.
    viewer = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename="view_deadletter"))
    client = Client()
    client.force_login(viewer)
    detail = client.get(reverse("admin:stats_deadletter_change", args=[letter.pk]))
    assert detail.status_code == 200 and b"fix-and-replay" not in detail.content
    assert client.post(url, {"value": fixed()}).status_code == 403
    assert end_offsets(kafka_servers, topic) == before
