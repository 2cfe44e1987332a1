"""How a consumer process is known to its group: a static instance id (KIP-345) or none.

A static member that dies (`kill -9`, OOM) and is restarted with the same instance id takes its
partitions back at once: the broker swaps the new process in for the dead one without waiting
for the session timeout and without a rebalance. A dynamic member (no instance id) is new on
every start, so its dead predecessor holds its partitions until the session timeout expires.

The session timeout decides the rest: a static member that is stopped for good, or a dynamic
member that died, holds its partitions until it expires (short = quick failover); a process that
misses heartbeats for longer (a long pause, a network blip) is evicted and its partitions move
(long = fewer needless rebalances).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_SESSION_TIMEOUT_MS = 6_000  # the broker's default group.min.session.timeout.ms
MAX_SESSION_TIMEOUT_MS = 1_800_000  # the broker's default group.max.session.timeout.ms
DEFAULT_SESSION_TIMEOUT_MS = 10_000
MAX_HEARTBEAT_INTERVAL_MS = 3_000

_INSTANCE_ID = re.compile(r"[A-Za-z0-9._-]{1,249}")


class InstanceIdInUse(Exception):
    """Another live process joined the group with this process's instance id (it is fenced).

    Not retried: two processes with one id would fence each other in turn. Give each process
    its own `--instance-id` or `--slot`.
    """


@dataclass(frozen=True)
class Membership:
    """A member's identity in the group and how long the broker waits for a silent member.

    `instance_id` None means dynamic membership. `leave_on_stop`: a graceful stop (SIGTERM)
    of a static member removes it from the group at once, as a dynamic member's close does;
    otherwise its partitions wait for a restart with the same id, or for the session timeout.
    """

    instance_id: str | None = None
    session_timeout_ms: int = DEFAULT_SESSION_TIMEOUT_MS
    leave_on_stop: bool = True

    def __post_init__(self) -> None:
        if self.instance_id is not None:
            check_instance_id(self.instance_id)
        check_session_timeout(self.session_timeout_ms)

    @property
    def heartbeat_interval_ms(self) -> int:
        """A third of the session timeout (Kafka's advice), at most kafka-python's 3 s."""
        return min(MAX_HEARTBEAT_INTERVAL_MS, self.session_timeout_ms // 3)

    def describe(self) -> str:
        kind = f"static member {self.instance_id}" if self.instance_id else "dynamic member"
        return f"{kind}, session timeout {self.session_timeout_ms} ms"


def default_instance_id(*, hostname: str, slot: int) -> str:
    """`<hostname>-<slot>`, the host name reduced to the characters Kafka allows in an id.

    Stable across restarts of one process slot on one host (a compose replica keeps its
    container's host name when it is restarted), distinct between slots and hosts.
    """
    if slot < 0:
        raise ValueError(f"a consumer slot is a number from 0, got {slot}")
    host = re.sub(r"[^A-Za-z0-9._-]+", "-", hostname).strip("-.") or "host"
    return check_instance_id(f"{host[:200]}-{slot}")


def check_instance_id(instance_id: str) -> str:
    """The id itself when Kafka accepts it as a group.instance.id; ValueError otherwise."""
    if not _INSTANCE_ID.fullmatch(instance_id) or instance_id in {".", ".."}:
        raise ValueError(
            f"instance id {instance_id!r} must be 1 to 249 of A-Z a-z 0-9 . _ - (not . or ..)"
        )
    return instance_id


def check_session_timeout(session_timeout_ms: int) -> int:
    """The timeout when the broker's default bounds accept it; ValueError otherwise."""
    if not MIN_SESSION_TIMEOUT_MS <= session_timeout_ms <= MAX_SESSION_TIMEOUT_MS:
        raise ValueError(
            f"session timeout {session_timeout_ms} ms is outside the broker's default bounds "
            f"({MIN_SESSION_TIMEOUT_MS}..{MAX_SESSION_TIMEOUT_MS} ms, "
            "group.min/max.session.timeout.ms)"
        )
    return session_timeout_ms


DYNAMIC = Membership()  # no instance id, the default session timeout
