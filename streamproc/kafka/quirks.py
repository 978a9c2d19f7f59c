"""Which broker the worker talks to, and so which of its workarounds it needs.

The embedded development broker (Tansu) gets two things wrong that the runtime works around
(the README's "What the embedded broker does differently"): a fetch can skip records that another
producer is still appending, and ListOffsets reports a low end offset. The workarounds are correct
on Apache Kafka too, but cost something there for nothing: a second look at every message of an
internal topic, and a fetch to confirm a changelog's end. So they are switched on per broker, found
from the cluster id the broker reports (Tansu's is ``tansu_cluster``) unless the settings name one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokerQuirks:
    name: str
    #: A fetch can skip offsets that reading again returns: re-read gaps of topics that have none
    #: (streamproc.kafka.continuity).
    fetch_gaps: bool
    #: ListOffsets can report an end offset below the real one: confirm a low end with a fetch
    #: before discarding a local store as "ahead of its changelog" (streamproc.state.recovery).
    stale_end_offsets: bool


APACHE_KAFKA = BrokerQuirks("kafka", fetch_gaps=False, stale_end_offsets=False)
TANSU = BrokerQuirks("tansu", fetch_gaps=True, stale_end_offsets=True)
#: Every workaround on: for a broker that cannot be identified.
CAUTIOUS = BrokerQuirks("unknown", fetch_gaps=True, stale_end_offsets=True)
BY_NAME = {q.name: q for q in (APACHE_KAFKA, TANSU)}
CHOICES = ("auto", *BY_NAME)


def detect(admin: Any, timeout: float = 10.0) -> BrokerQuirks:
    """The quirks of the cluster ``admin`` is connected to."""
    try:
        cluster_id = admin.describe_cluster(request_timeout=timeout).result().cluster_id or ""
    except Exception as exc:  # an old broker without DescribeCluster: be careful rather than fast
        log.info("could not tell which broker this is (%s); keeping every broker workaround on", exc)
        return CAUTIOUS
    return TANSU if cluster_id.startswith("tansu") else APACHE_KAFKA


def choose(setting: str, admin: Any, timeout: float = 10.0) -> BrokerQuirks:
    """``setting``: ``auto`` (ask the broker) or a broker's name."""
    return detect(admin, timeout) if setting == "auto" else BY_NAME[setting]
