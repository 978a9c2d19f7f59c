"""streamproc: Storm-style topologies of spouts and bolts on Kafka partitions, with keyed RocksDB state."""

from streamproc.components import Bolt, TaskContext, Tuple
from streamproc.errors import ConfigError, ProcessingError, StreamprocError, TopologyError
from streamproc.kafka.sink import KafkaSink
from streamproc.kafka.spout import KafkaSpout
from streamproc.serde import (
    AvroSerde,
    BytesSerde,
    ConfluentAvroSerde,
    DataclassSerde,
    FloatSerde,
    IntSerde,
    JsonSerde,
    Serde,
    SerdeContext,
    StrSerde,
)
from streamproc.state import KeyedState, Store
from streamproc.topology import Topology

__all__ = [
    "AvroSerde",
    "Bolt",
    "BytesSerde",
    "ConfigError",
    "ConfluentAvroSerde",
    "DataclassSerde",
    "FloatSerde",
    "IntSerde",
    "JsonSerde",
    "KafkaSink",
    "KafkaSpout",
    "KeyedState",
    "ProcessingError",
    "Serde",
    "SerdeContext",
    "Store",
    "StrSerde",
    "StreamprocError",
    "TaskContext",
    "Topology",
    "TopologyError",
    "Tuple",
]
