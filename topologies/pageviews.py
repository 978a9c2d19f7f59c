"""Page views per page: per minute (tumbling), per 5 minutes every minute (hopping), and an alert for quiet pages.

Input topic ``pageviews``: key = the page (UTF-8), value = JSON ``{"page", "user", "ts"}``, event time ``ts``
(epoch ms). Keyed by page, so that a page's views meet in one task.

Outputs, each value a window result ``{"key": page, "start", "end", "value": views}`` (``[start, end)``, epoch
ms), once per window when it is final (stream time >= end + grace):

- ``pageviews-per-minute``: 1-minute tumbling windows, 10 s grace;
- ``pageviews-per-5-minutes``: 5-minute windows starting every minute, 10 s grace;
- ``quiet-pages``: ``{"page", "last_view", "quiet_ms"}`` when a page got no view for ``QUIET`` of event time
  after its last one (a keyed event-time timer, moved at every newer view);
- ``pageviews-late``: the views too late for every window of the per-minute or the 5-minute bolt, from both.

Data: ``python topologies/windowed_data.py pageviews --bootstrap-servers ...`` (see its docstring).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from streamproc import Bolt, JsonSerde, KafkaSink, KafkaSpout, Store, StrSerde, Topology, Tuple
from streamproc.windows import Hopping, Tumbling, WindowedBolt, agg

GRACE = timedelta(seconds=10)
QUIET = timedelta(minutes=10)


class ViewsPerMinute(WindowedBolt):
    """Views per page and minute."""

    window = Tumbling(size=timedelta(minutes=1), grace=GRACE)
    aggregation = agg.count()
    emit_mode = "final"


class ViewsPerFiveMinutes(WindowedBolt):
    """Views per page over the last 5 minutes, every minute: each view counts in 5 windows."""

    window = Hopping(size=timedelta(minutes=5), advance=timedelta(minutes=1), grace=GRACE)
    aggregation = agg.count()
    emit_mode = "final"


class QuietPages(Bolt):
    """Alerts when a page got no view for ``quiet_ms`` of event time: one timer per page, at its latest view +
    ``quiet_ms``, moved whenever a newer view arrives. Views older than the latest (out of order) change nothing."""

    stores = [Store("last-view")]
    output_fields = ("page", "last_view", "quiet_ms")
    quiet_ms = QUIET // timedelta(milliseconds=1)

    def process(self, tup: Tuple) -> None:
        last, now = self.state("last-view"), tup.timestamp
        assert now is not None, "a spout tuple carries its event time"
        previous = last.get()
        if previous is not None:
            if previous >= now:
                return
            self.timers.delete_event_time(previous + self.quiet_ms)
        last.set(now)
        self.timers.at_event_time(now + self.quiet_ms)

    def on_timer(self, key: Any, when: int, kind: str) -> None:
        self.emit({"page": key, "last_view": when - self.quiet_ms, "quiet_ms": self.quiet_ms}, key=key)


def view_time(_key: Any, value: Any, _kafka_ts: int) -> Any:
    """A view's event time (a missing or bad ``ts`` follows the error policy)."""
    return value["ts"]


def build(name: str = "pageviews", source: str = "pageviews", prefix: str = "") -> Topology:
    """The topology with other names: ``prefix`` goes before every output topic's name (tests run copies)."""
    def sink(topic: str) -> KafkaSink:
        return KafkaSink(prefix + topic, key_serde=StrSerde(), value_serde=JsonSerde())

    topology = Topology(name)
    topology.spout("views", KafkaSpout(source, key_serde=StrSerde(), value_serde=JsonSerde(), timestamp=view_time))
    topology.bolt("per-minute", ViewsPerMinute).shuffle("views")  # keyed by page already: no repartition
    topology.bolt("per-5-minutes", ViewsPerFiveMinutes).shuffle("views")
    topology.bolt("quiet", QuietPages).shuffle("views")
    topology.bolt("per-minute-out", sink("pageviews-per-minute")).shuffle("per-minute")
    topology.bolt("per-5-minutes-out", sink("pageviews-per-5-minutes")).shuffle("per-5-minutes")
    topology.bolt("quiet-out", sink("quiet-pages")).shuffle("quiet")
    topology.bolt("late-out", sink("pageviews-late")).shuffle(("per-minute", "late")).shuffle(("per-5-minutes", "late"))
    return topology


topology = build()
