"""Group membership: instance ids Kafka accepts, a session timeout the broker accepts, and
`runconsumer` refusing what Kafka would refuse before it touches the broker."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from stats.consumer.membership import Membership, default_instance_id


def test_the_default_instance_id_is_the_host_and_slot_in_the_characters_kafka_allows() -> None:
    assert default_instance_id(hostname="web-1.example.org", slot=0) == "web-1.example.org-0"
    assert default_instance_id(hostname="my laptop (2)", slot=3) == "my-laptop-2-3"
    assert default_instance_id(hostname="", slot=1) == "host-1"
    assert len(default_instance_id(hostname="h" * 400, slot=12)) <= 249
    with pytest.raises(ValueError, match="slot"):
        default_instance_id(hostname="h", slot=-1)


@pytest.mark.parametrize("bad", ["", ".", "..", "has space", "ü", "x" * 250])
def test_an_instance_id_kafka_would_refuse_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="instance id"):
        Membership(instance_id=bad)


def test_the_session_timeout_stays_in_the_brokers_bounds_and_sets_the_heartbeat() -> None:
    assert Membership(session_timeout_ms=6_000).heartbeat_interval_ms == 2_000
    assert Membership(session_timeout_ms=45_000).heartbeat_interval_ms == 3_000
    for bad in (5_999, 1_800_001):
        with pytest.raises(ValueError, match="session timeout"):
            Membership(session_timeout_ms=bad)


def test_runconsumer_refuses_bad_membership_options_before_touching_the_broker() -> None:
    with pytest.raises(CommandError, match="instance id"):
        call_command("runconsumer", instance_id="not ok")
    with pytest.raises(CommandError, match="session timeout"):
        call_command("runconsumer", session_timeout_ms=1000)
    with pytest.raises(CommandError, match="slot"):
        call_command("runconsumer", slot=-1)
