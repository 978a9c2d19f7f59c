"""ACLs on Apache Kafka (StandardAuthorizer, SASL/SCRAM users): a worker whose user may not read its input
topic should stop with an error naming the topic and the operation, and not restart in a loop.

Today it does not: the consumer's "Fetch from broker 1 failed: Broker: Topic authorization failed"
is logged as a warning (no topic, no operation) and the worker waits forever. Marked as an expected
failure in that case only (once the worker stops, the test checks what it says); runtime/dispatch.py is
where consumer errors are handled."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from tests.integration.test_security import flags
from tests.support.apache_kafka import KafkaCluster
from tests.support.kafka import wait_for
from tests.support.wordcount import WordCountRun

pytestmark = [pytest.mark.integration, pytest.mark.broker("kafka", reason="Tansu has no ACLs")]

USER, PASSWORD = "streamproc", "acl-pass-SECRET-1f2e"
AUTHORIZER = {"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
              # the brokers' own SCRAM user, and the controllers' plaintext listener
              "super.users": "User:admin;User:ANONYMOUS", "allow.everyone.if.no.acl.found": "false"}


@pytest.fixture(scope="module")
def acl_kafka(broker_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    users = {"admin": "admin-pass-SECRET-aa01", USER: PASSWORD}
    with KafkaCluster(1, workdir=tmp_path_factory.mktemp("acl"), scram_users=users, config=AUTHORIZER,
                      heap="384m") as cluster:
        yield cluster


def test_a_worker_denied_its_input_says_which_topic_and_operation(acl_kafka: KafkaCluster, tmp_path: Path) -> None:
    admin_client = acl_kafka.client_settings()
    wc = WordCountRun(acl_kafka.bootstrap_servers, tmp_path, partitions=2, client=admin_client)
    principal = f"User:{USER}"
    allow = [AclBinding(kind, name, ResourcePatternType.LITERAL, principal, "*", AclOperation.ALL,
                        AclPermissionType.ALLOW)
             for kind, name in ((ResourceType.TOPIC, "*"), (ResourceType.GROUP, "*"),
                                (ResourceType.BROKER, "kafka-cluster"))]
    deny = AclBinding(ResourceType.TOPIC, wc.source, ResourcePatternType.LITERAL, principal, "*", AclOperation.READ,
                      AclPermissionType.DENY)
    admin = AdminClient({"bootstrap.servers": acl_kafka.bootstrap_servers, **admin_client})
    for future in admin.create_acls([*allow, deny]).values():
        future.result()
    wc.feed(100, seed=95)
    user = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": USER,
            "sasl.password": PASSWORD}
    running = wc.start(*flags(user))
    try:
        wait_for(lambda: "Topic authorization failed" in running.log() or running.process.poll() is not None, 60,
                 "the denied read to reach the worker")
        wait_for(lambda: running.process.poll() is not None, 30, "the worker to stop on the denied read")
    finally:
        running.stop()
        wc.close()
    log = running.log()
    assert running.process.returncode == 3, log[-3000:]
    assert re.search(rf"ERROR .*{re.escape(wc.source)}.*(?i:read)", log), log[-3000:]
    assert log.count("exited with") <= 1 and PASSWORD not in log
