"""Kafka adapter: remove a static member from its group by instance id (LeaveGroup v3+).

kafka-python's `close()` sends no LeaveGroup for a static member (KIP-345: only the session
timeout ends a static membership), and the group coordinator may keep a dead static member's
stale assignment when a new process takes its id over mid-rebalance (seen with Kafka 4.1 and
kafka-python's JoinGroup v7: the group stayed Stable with an empty assignment and a leader that
no longer existed, so the replacement owned nothing, indefinitely). So a member removes its own
id twice: at start, to evict a dead predecessor and join a fresh rebalance; and at a graceful
stop, so that its partitions move at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from kafka import KafkaAdminClient
from kafka.admin import MemberToRemove
from kafka.errors import GroupIdNotFoundError, KafkaError, NoError, UnknownMemberIdError

logger = logging.getLogger(__name__)

LEAVE_TIMEOUT_MS = 5000
_NOTHING_TO_REMOVE = (GroupIdNotFoundError, UnknownMemberIdError)


def remove_static_member(
    *, bootstrap_servers: Sequence[str], group: str, instance_id: str, member_id: str | None
) -> bool:
    """Remove the member `instance_id` of `group` now (only if it is still `member_id`, when
    given: a successor that took the id over stays). True when removed or not there; False
    (logged) when the broker could not be asked, so the session timeout ends it. Never raises."""
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=list(bootstrap_servers),
            client_id=f"{group}-{instance_id}-leave",
            request_timeout_ms=LEAVE_TIMEOUT_MS,
            bootstrap_timeout_ms=LEAVE_TIMEOUT_MS,
        )
    except KafkaError as exc:
        logger.warning("could not remove static member %s from %s (%s)", instance_id, group, exc)
        return False
    member = MemberToRemove(member_id=member_id, group_instance_id=instance_id, reason="stopped")
    try:
        answers = admin.remove_group_members(group, [member]).values()
        errors = [error for error in answers if error is not NoError]
    except _NOTHING_TO_REMOVE:
        errors = []
    except KafkaError as exc:
        errors = [exc]
    finally:
        admin.close()
    if errors and not (isinstance(errors[0], type) and issubclass(errors[0], _NOTHING_TO_REMOVE)):
        logger.warning(
            "group %s kept static member %s (%s): its partitions move after the session timeout",
            group, instance_id, errors[0],
        )  # fmt: skip
        return False
    logger.info("static member %s is out of group %s", instance_id, group)
    return True
