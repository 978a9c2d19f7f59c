"""Windowed aggregation: ``WindowedBolt`` with a window kind and an aggregation from ``agg``.

See the README's "Windows" section, streamproc.windows.kinds for the window kinds' bounds and
streamproc.windows.engine for how windows close as stream time passes them.
"""

from streamproc.windows import agg
from streamproc.windows.bolt import WindowedBolt
from streamproc.windows.kinds import CountSliding, CountTumbling, Hopping, Session, Sliding, Tumbling, Window

__all__ = ["CountSliding", "CountTumbling", "Hopping", "Session", "Sliding", "Tumbling", "Window", "WindowedBolt",
           "agg"]
