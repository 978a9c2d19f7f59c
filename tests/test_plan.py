"""Cutting a topology into sub-topologies at every grouping that moves tuples between partitions."""

from __future__ import annotations

import pytest

from streamproc import JsonSerde, KafkaSpout, Topology
from streamproc.errors import ConfigError
from tests.support.bolts import Count, Passthrough, wordcount


def test_fields_grouping_cuts_through_a_repartition_topic() -> None:
    plan = wordcount().build()
    assert [sub.components for sub in plan.subtopologies] == [("in", "split"), ("count", "sink")]
    assert plan.subtopologies[0].source_topics == ("sentences",)
    assert plan.subtopologies[1].source_topics == ("wc-count-repartition",)
    assert plan.subtopologies[1].stores == ("counts",)
    assert plan.changelog_topics() == {"counts": "wc-counts-changelog"}
    route = plan.routes[("split", "default")][0]
    assert route.topic == "wc-count-repartition" and route.target == "count"
    assert plan.routes[("count", "default")][0].topic is None  # shuffle stays in-process


def test_partition_counts_follow_the_input() -> None:
    plan = wordcount().build()
    counts = plan.resolve_partitions({"sentences": 6})
    assert counts == {"sentences": 6, "wc-count-repartition": 6, "wc-counts-changelog": 6}


def test_global_all_and_configured_partitions() -> None:
    topology = Topology("g")
    topology.spout("in", KafkaSpout("events", value_serde=JsonSerde()))
    topology.bolt("total", Count).global_("in")
    topology.bolt("everywhere", Passthrough, partitions=3).all("in")
    plan = topology.build()
    assert plan.internal_topics["g-total-global"].partitions == 1
    assert plan.internal_topics["g-everywhere-repartition"].kind == "repartition"
    counts = plan.resolve_partitions({"events": 8})
    assert counts["g-total-global"] == 1
    assert counts["g-everywhere-repartition"] == 3
    assert counts["g-counts-changelog"] == 1
    assert len(plan.subtopologies) == 3


def test_several_sources_into_one_topic_are_tagged() -> None:
    topology = Topology("m")
    topology.spout("a", KafkaSpout("ta", value_serde=JsonSerde()))
    topology.spout("b", KafkaSpout("tb", value_serde=JsonSerde()))
    topology.bolt("join", Count).fields("a", "id").fields("b", "id")
    plan = topology.build()
    assert plan.internal_topics["m-join-repartition"].tagged
    assert plan.resolve_partitions({"ta": 2, "tb": 5})["m-join-repartition"] == 5


def test_co_partitioned_inputs_must_match() -> None:
    topology = Topology("c")
    topology.spout("in", KafkaSpout(["ta", "tb"], value_serde=JsonSerde()))
    topology.bolt("p", Passthrough).shuffle("in")
    with pytest.raises(ConfigError, match="must have the same partition count"):
        topology.build().resolve_partitions({"ta": 2, "tb": 3})


def test_missing_input_topic() -> None:
    with pytest.raises(ConfigError, match="input topic 'sentences' does not exist"):
        wordcount().build().resolve_partitions({})


def test_cooperative_assignment_is_refused_where_inputs_must_be_co_partitioned() -> None:
    from streamproc import KafkaSpout, Topology
    from streamproc.errors import ConfigError
    from streamproc.plan import check_assignor
    from tests.support.bolts import Passthrough, wordcount

    plan = wordcount().build()
    assert check_assignor(plan, "cooperative-sticky") == "cooperative-sticky"  # one input per sub-topology
    assert check_assignor(plan, "range") == "range"

    joined = Topology("joined")
    joined.spout("in", KafkaSpout(["a", "b"]))
    joined.bolt("pass", Passthrough).shuffle("in")
    with pytest.raises(ConfigError, match=r"reads several topics \(a, b\).* only the range assignor"):
        check_assignor(joined.build(), "cooperative-sticky")
    with pytest.raises(ConfigError, match="unknown assignor 'roundrobin'"):
        check_assignor(plan, "roundrobin")
