"""Kafka-facing parts: client configuration, admin of internal topics, the spout and the sink."""

from streamproc.kafka.sink import KafkaSink
from streamproc.kafka.spout import KafkaSpout

__all__ = ["KafkaSink", "KafkaSpout"]
