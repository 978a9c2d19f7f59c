"""JSON through orjson: the default for state values and internal topics because it is fast and
readable on the wire (a changelog or repartition record can be inspected with any Kafka tool)."""

from __future__ import annotations

from typing import Any

import orjson

from streamproc.errors import SerdeError
from streamproc.serde.base import SerdeContext, ValueShape


class JsonSerde:
    """JSON values. Lists decode as lists; dict keys must be strings."""

    shape: ValueShape = "any"
    fast_decode = staticmethod(orjson.loads)
    fast_encode = staticmethod(orjson.dumps)

    def serialize(self, obj: Any, ctx: SerdeContext) -> bytes | None:
        """``obj`` as JSON (orjson); an object JSON cannot hold is a ``SerdeError``."""
        if obj is None:
            return None
        try:
            encoded: bytes = orjson.dumps(obj)
        except TypeError as exc:
            raise SerdeError(
                f"cannot encode {type(obj).__name__} as JSON for topic {ctx.topic!r}: {exc}"
            ) from exc
        # orjson writes inf and nan as null; only output with a null can hold one, so the walk is rare.
        if b"null" in encoded and has_non_finite(obj):
            raise SerdeError(f"cannot encode {type(obj).__name__} as JSON for topic {ctx.topic!r}: it holds inf or "
                             "nan, which JSON has no value for (it would come back as null)")
        return encoded

    def deserialize(self, data: bytes | None, ctx: SerdeContext) -> Any:
        """The JSON value in ``data``; invalid JSON is a ``SerdeError``."""
        if data is None:
            return None
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise SerdeError(f"invalid JSON on topic {ctx.topic!r}: {exc}") from exc


def has_non_finite(obj: Any) -> bool:
    """True when ``obj`` holds inf or nan, which JSON has no value for."""
    if isinstance(obj, float):
        return obj - obj != 0.0
    if isinstance(obj, dict):
        return any(has_non_finite(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(has_non_finite(v) for v in obj)
    return False
