"""Worker settings travel to worker processes and may be printed: their client settings must not be."""

from __future__ import annotations

import pickle

from streamproc.runtime.settings import WorkerSettings


def test_repr_leaves_client_settings_out_but_they_reach_the_worker() -> None:
    settings = WorkerSettings("kafka:9093", "group", overrides={"sasl.password": "hunter2-secret"})
    assert "hunter2" not in repr(settings)
    assert "kafka:9093" in repr(settings)
    assert pickle.loads(pickle.dumps(settings)).overrides == {"sasl.password": "hunter2-secret"}
