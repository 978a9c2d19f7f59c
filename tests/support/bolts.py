"""Small bolts shared by unit tests."""

from __future__ import annotations

from streamproc import Bolt, Store, Tuple


class Passthrough(Bolt):
    def process(self, tup: Tuple) -> None:
        self.emit(tup.value, key=tup.key)


class Split(Bolt):
    output_fields = ("word",)

    def process(self, tup: Tuple) -> None:
        for word in tup.value.split():
            self.emit({"word": word})


class Count(Bolt):
    stores = [Store("counts")]

    def process(self, tup: Tuple) -> None:
        counts = self.state("counts")
        counts.set(counts.get(0) + 1)
        self.emit({"word": tup.key, "count": counts.get()}, key=tup.key)
