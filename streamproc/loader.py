"""Finding the topology a command names: ``path/to/file.py[:attr]`` or ``package.module[:attr]``.

Whatever the user's module does while it is imported or its factory runs (raise, call sys.exit())
becomes a ConfigError with a one-line cause; the traceback is logged at DEBUG.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from streamproc.errors import ConfigError, TopologyError
from streamproc.plan import Plan
from streamproc.topology import Topology

DEFAULT_ATTRIBUTE = "topology"
log = logging.getLogger(__name__)
_ABSENT = object()


def load_topology(target: str) -> Topology:
    """Import the target and return its Topology (an attribute, or a function returning one)."""
    location, _, attribute = target.partition(":")
    attribute = attribute or DEFAULT_ATTRIBUTE
    if not location.strip():
        raise ConfigError(f"TARGET {target!r} names no file or module; give file.py[:attr] or module[:attr]")
    module = _import(location)
    found = getattr(module, attribute, _ABSENT)
    if found is _ABSENT:
        raise ConfigError(f"{location!r} has no attribute {attribute!r}; name it as TARGET:attr")
    if callable(found) and not isinstance(found, Topology):
        try:
            found = found()
        except TopologyError:
            raise
        except (Exception, SystemExit) as exc:
            log.debug("calling %s failed", attribute, exc_info=exc)
            raise ConfigError(f"calling {attribute}() in {location!r} failed: {_one_line(exc)}") from None
    if not isinstance(found, Topology):
        raise ConfigError(f"{target!r} is {'None' if found is None else 'a ' + type(found).__name__}, not a "
                          "streamproc Topology")
    return found


def _import(location: str) -> ModuleType:
    path = Path(location)
    if path.is_dir():
        raise ConfigError(f"TARGET {location!r} is a directory; name the topology's .py file (or a module)")
    if not (location.endswith(".py") or "/" in location or path.is_file()):
        with _user_code(location):
            if importlib.util.find_spec(location) is None:
                raise ConfigError(f"cannot import module {location!r}: no module of that name (a file needs .py)")
            return importlib.import_module(location)
    if not path.is_file():
        raise ConfigError(f"topology file {location!r} does not exist")
    module_name = f"_streamproc_target_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {location!r} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(path.resolve().parent))
    with _user_code(location):
        spec.loader.exec_module(module)
    return module


@contextmanager
def _user_code(location: str) -> Iterator[None]:
    """Turns what the user's module raises into a one-line ConfigError (a TopologyError passes as it is)."""
    try:
        yield
    except (TopologyError, ConfigError):
        raise
    except (Exception, SystemExit) as exc:  # sys.exit() in the module is a failed load, not a request to stop
        log.debug("importing %s failed", location, exc_info=exc)
        raise ConfigError(f"importing {location!r} failed: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r})"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def check_bolts(plan: Plan) -> None:
    """Create each bolt once and drop it, so that a constructor that fails stops the command with its
    cause (exit 2) instead of failing every task of every worker after a group join."""
    from streamproc.runtime.task import instantiate

    for component, spec in plan.bolts.items():
        try:
            instantiate(component, spec.bolt)
        except SystemExit as exc:
            raise TopologyError(f"cannot create bolt {component!r}: it called sys.exit({exc.code!r})") from None
