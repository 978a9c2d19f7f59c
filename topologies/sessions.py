"""Clickstream sessionization: each user's clicks in session windows (30 minutes of inactivity end a session).

Input topic ``clicks``: key = the user (UTF-8), value = JSON ``{"user", "page", "ts"}``, event time ``ts``
(epoch ms; the spout reads it, not the Kafka timestamp). Partition by user, as Kafka's default
partitioner does with the key, so that a user's clicks meet in one task.

Output topic ``sessions``: key = the user, value = ``{"user", "start", "end", "page_count", "pages"}``, one
record per session, once it is final (stream time past its last click + gap + grace): ``start`` and ``end``
are the event times of its first and last click (both inclusive, as Kafka Streams' session windows),
``pages`` the pages in the order the clicks were aggregated. Clicks too late for any open session (their
session closed before they arrived) go to ``clicks-late`` as they came in.

Data: ``python topologies/windowed_data.py clicks --bootstrap-servers ...`` (see its docstring).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from streamproc import Bolt, JsonSerde, KafkaSink, KafkaSpout, StrSerde, Topology, Tuple
from streamproc.windows import Session, WindowedBolt, agg

GAP = timedelta(minutes=30)
GRACE = timedelta(minutes=5)


class Sessionize(WindowedBolt):
    """One session window per user; the aggregation collects the pages (a session merge concatenates them)."""

    window = Session(gap=GAP, grace=GRACE)
    aggregation = agg.collect("page")
    emit_mode = "final"


class SessionSummary(Bolt):
    """A window result ``{"key", "start", "end", "value": [pages]}`` as the session record users read."""

    output_fields = ("user", "start", "end", "page_count", "pages")

    def process(self, tup: Tuple) -> None:
        result = tup.value
        pages = result["value"]
        self.emit({"user": result["key"], "start": result["start"], "end": result["end"],
                   "page_count": len(pages), "pages": pages}, key=tup.key)


def click_time(_key: Any, value: Any, _kafka_ts: int) -> Any:
    """A click's event time: when the client saw it, not when Kafka received it (a missing or bad ``ts`` follows
    the error policy)."""
    return value["ts"]


def build(name: str = "sessions", source: str = "clicks", sink: str = "sessions", late: str = "clicks-late",
          session: type[Sessionize] = Sessionize) -> Topology:
    """The topology with other names (tests run several copies on one broker) or another window (``session``)."""
    topology = Topology(name)
    topology.spout("clicks", KafkaSpout(source, key_serde=StrSerde(), value_serde=JsonSerde(), timestamp=click_time))
    topology.bolt("sessionize", session).shuffle("clicks")  # the input is keyed by user: no repartition needed
    topology.bolt("summary", SessionSummary).shuffle("sessionize")
    topology.bolt("sink", KafkaSink(sink, key_serde=StrSerde(), value_serde=JsonSerde())).shuffle("summary")
    topology.bolt("late", KafkaSink(late, key_serde=StrSerde(), value_serde=JsonSerde())).shuffle(
        ("sessionize", "late"))
    return topology


topology = build()
