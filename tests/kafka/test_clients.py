"""Client creation: librdkafka loads TLS material when a client is created, so bad settings fail there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streamproc.errors import ConfigError
from streamproc.kafka.clients import new_admin, new_consumer, new_producer
from streamproc.kafka.config import admin_config, consumer_config, producer_config
from tests.support.tls import make_tls_files

SECRET = "key-password-SECRET-7f3a"

CREATORS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "consumer": lambda o: new_consumer(consumer_config("127.0.0.1:1", "g", o, "c")),
    "restore consumer": lambda o: new_consumer(consumer_config("127.0.0.1:1", "g", o, "c"), "restore consumer"),
    "producer": lambda o: new_producer(producer_config("127.0.0.1:1", o, "c")),
    "admin client": lambda o: new_admin(admin_config("127.0.0.1:1", o, "c")),
}


@pytest.mark.parametrize("role", list(CREATORS))
def test_a_wrong_key_password_names_the_client_and_hides_the_password(role: str, tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path, SECRET)
    with pytest.raises(ConfigError) as error:
        CREATORS[role](tls.client_settings(key_password=SECRET + "-wrong"))
    message = str(error.value)
    assert message.startswith(f"cannot create the Kafka {role}: ")
    assert "ssl.key.location" in message and "ssl.key.password" in message
    assert SECRET not in message
    assert error.value.__cause__ is None and error.value.__suppress_context__


def test_the_right_key_password_creates_every_client(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path, SECRET)
    for create in CREATORS.values():
        client = create(tls.client_settings())
        if hasattr(client, "close"):
            client.close()


def test_a_missing_ca_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot create the Kafka producer: ssl\.ca\.location failed"):
        new_producer(producer_config("127.0.0.1:1", {"security.protocol": "SSL",
                                                     "ssl.ca.location": str(tmp_path / "absent.pem")}, "c"))
