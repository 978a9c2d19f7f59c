"""Whether a consumer group has live members: offsets must not move under running workers.

Kafka itself refuses to alter the offsets of an active group, but only after some offsets may
already have changed elsewhere (internal topics deleted, state wiped). So operator commands ask
first and refuse with the members' names, before touching anything.
"""

from __future__ import annotations

from confluent_kafka import ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient

from streamproc.errors import ConfigError

_IDLE = {ConsumerGroupState.EMPTY, ConsumerGroupState.DEAD}


def active_members(admin: AdminClient, group_id: str, timeout: float = 15.0) -> list[str] | None:
    """None when the group has no live member; otherwise a description of each member.

    The list may be empty for an active group: some brokers report the state but not the members.
    """
    try:
        description = admin.describe_consumer_groups([group_id], request_timeout=timeout)[group_id].result()
    except KafkaException as exc:
        raise ConfigError(f"cannot describe consumer group {group_id!r}: {exc.args[0]}") from exc
    if description.state in _IDLE or (description.state == ConsumerGroupState.UNKNOWN and not description.members):
        return None
    return [f"{m.client_id} on {m.host} ({m.member_id})" for m in description.members]


def require_inactive(admin: AdminClient, group_id: str, action: str) -> None:
    members = active_members(admin, group_id)
    if members is None:
        return
    who = ("; members: " + ", ".join(members)) if members else ""
    raise ConfigError(
        f"consumer group {group_id!r} is active{who}. Stop every worker of the topology (a killed worker leaves the "
        f"group when its session times out) before you {action}"
    )
