"""The Apache Kafka server's jars for the tests: fetched by Maven from Maven Central into a cache outside
the repository, and the Java to run them.

tests/kafka_broker/pom.xml pins the version; the jars go to ``$STREAMPROC_KAFKA_CACHE/kafka-VERSION/libs``
(default ``~/.cache/streamproc``), once across parallel test processes, and again only when the pom
changes. A machine without Java 17+ or Maven gets :class:`KafkaUnavailable`, which the suite turns into
skipped tests that say why.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

POM = Path(__file__).resolve().parents[1] / "kafka_broker" / "pom.xml"
VERSION = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text()).group(1)  # type: ignore[union-attr]
CACHE_ENV = "STREAMPROC_KAFKA_CACHE"
MIN_JAVA = 17


class KafkaUnavailable(RuntimeError):
    """Java or Maven is missing (or the jars cannot be fetched): the Kafka tests skip with this reason."""


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "streamproc") / f"kafka-{VERSION}"


def _java_major(java: str) -> int:
    result = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    found = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr)
    if not found:
        raise KafkaUnavailable(f"could not tell the version of {java}: {result.stderr.strip()[:200]}")
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def find_java() -> str:
    java = str(Path(os.environ["JAVA_HOME"]) / "bin" / "java") if os.environ.get("JAVA_HOME") else shutil.which("java")
    if not java or not Path(java).is_file():
        raise KafkaUnavailable(f"Apache Kafka {VERSION} needs Java {MIN_JAVA}+: no `java` on PATH (or JAVA_HOME)")
    major = _java_major(java)
    if major < MIN_JAVA:
        raise KafkaUnavailable(f"Apache Kafka {VERSION} needs Java {MIN_JAVA}+; {java} is Java {major}")
    return java


def fetch_jars() -> Path:
    """The directory of the server's jars, fetched by Maven on first use (once, across processes)."""
    target = cache_dir()
    libs, stamp = target / "libs", target / "complete"
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == digest:
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaUnavailable(f"fetching Apache Kafka {VERSION} needs Maven: no `mvn` on PATH")
    target.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".kafka-{VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test processes: one fetches, the others wait for it
        if stamp.is_file() and stamp.read_text() == digest:
            return libs
        staging = Path(tempfile.mkdtemp(prefix="libs-", dir=target))
        result = subprocess.run([mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
                                 f"-DoutputDirectory={staging}", "-DincludeScope=runtime"],
                                capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise KafkaUnavailable(f"Maven could not fetch Apache Kafka {VERSION} (exit {result.returncode}):\n{tail}")
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        stamp.write_text(digest)
    return libs
