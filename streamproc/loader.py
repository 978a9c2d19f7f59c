"""Finding the topology a command names: ``path/to/file.py[:attr]`` or ``package.module[:attr]``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from streamproc.errors import ConfigError, TopologyError
from streamproc.topology import Topology

DEFAULT_ATTRIBUTE = "topology"


def load_topology(target: str) -> Topology:
    """Import the target and return its Topology (an attribute, or a function returning one)."""
    location, _, attribute = target.partition(":")
    attribute = attribute or DEFAULT_ATTRIBUTE
    if location.endswith(".py") or "/" in location or Path(location).is_file():
        path = Path(location)
        if not path.is_file():
            raise ConfigError(f"topology file {location!r} does not exist")
        module_name = f"_streamproc_target_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"cannot import {location!r} as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        sys.path.insert(0, str(path.resolve().parent))
        try:
            spec.loader.exec_module(module)
        except TopologyError:
            raise
        except Exception as exc:
            raise ConfigError(f"importing {location!r} failed: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as exc:
            raise ConfigError(f"cannot import module {location!r}: {exc}") from exc
    found = getattr(module, attribute, None)
    if found is None:
        raise ConfigError(f"{location!r} has no attribute {attribute!r}; name it as TARGET:attr")
    if callable(found) and not isinstance(found, Topology):
        found = found()
    if not isinstance(found, Topology):
        raise ConfigError(f"{target!r} is a {type(found).__name__}, not a streamproc Topology")
    return found
