# The two commands the README leads with: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install test unit test-kafka kafka-jars lint docs demo bench bench-windows bench-restore chaos chaos-kafka broker up down clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The whole suite on the embedded broker (Tansu), then what talks to a broker again on Apache Kafka.
test: install lint docs unit test-kafka

unit: install
	$(PY) -m pytest -q -n 3 --dist loadfile

# Integration, CLI and chaos tests on Apache Kafka (tests/support/apache_kafka.py): one broker shared by
# the three test processes. Without Java 17+ or Maven these tests are reported skipped, saying why.
test-kafka: install
	STREAMPROC_TEST_BROKER=kafka $(PY) -m pytest -q -n 3 --dist loadfile tests/integration tests/cli tests/chaos

# Fetch the pinned Apache Kafka jars (tests/kafka_broker/pom.xml) into ~/.cache/streamproc with Maven.
kafka-jars: install
	$(PY) -m tests.support.apache_kafka --fetch

lint: install
	$(VENV)/bin/ruff check streamproc tests topologies bench docs
	$(VENV)/bin/mypy

# The site (guide pages cut from README.md, API reference from the docstrings) into site/; any warning fails.
docs: install
	$(VENV)/bin/mkdocs build --strict --quiet

demo: install
	$(PY) topologies/demo.py

bench: install
	$(PY) bench/keyed_count.py

# A tumbling count with final emission, then a session sum, over 1,000,000 events through the same harness.
bench-windows: install
	$(PY) bench/windows.py --kind tumbling
	$(PY) bench/windows.py --kind session

# One worker process, then one per core of a 2-core machine (as `streamproc run --workers 2`).
bench-restore: install
	$(PY) bench/restore.py --workers 1
	$(PY) bench/restore.py --workers 2

# 1,000,000 messages, 20 SIGKILLs, a deleted state directory and a 30 s broker outage; prints the summary.
chaos: install
	$(PY) -m tests.chaos --messages 1000000 --kills 20 --outage 30

# The same on a three-node Apache Kafka cluster (Java 17+ and Maven, as `make test-kafka`): replication factor 3,
# min.insync.replicas=2, and instead of the cut, a SIGKILL of the broker leading the most partitions, restarted
# 30 s later. GUARANTEE=exactly-once runs it under exactly-once.
GUARANTEE ?= at-least-once
chaos-kafka: install
	nice $(PY) -m tests.chaos --broker kafka-cluster --messages 1000000 --kills 20 --outage 30 --guarantee $(GUARANTEE)

broker: install
	$(VENV)/bin/streamproc broker

up:
	docker compose up --build -d

down:
	docker compose down -v

clean:
	rm -rf $(VENV) state site .mypy_cache .ruff_cache .pytest_cache
