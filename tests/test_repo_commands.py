"""The commands the README leads with are the ones that exist: Makefile targets, CI's entry point,
and the docker-compose stack with the image it builds."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
MAKEFILE = REPO / "Makefile"
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
README_TARGETS = {"install", "test", "docs", "demo", "bench", "up", "down"}


# --- Makefile and CI -----------------------------------------------------------------------------

def make_targets(text: str) -> dict[str, list[str]]:
    """Each rule's target name and its recipe lines (variable assignments such as ``X := y`` are not rules)."""
    targets: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("\t") and current is not None:
            current.append(line.strip())
            continue
        current = None
        match = re.match(r"^([A-Za-z0-9_.$()/-]+)\s*:(?![:=])", line)
        if match:
            current = targets.setdefault(match.group(1), [])
    return targets


def test_make_targets_parser_ignores_assignments() -> None:
    parsed = make_targets("PY := python\nSTAMP ::= x\nall: build\n\techo hi\nbuild:\n\n\techo no\n")
    assert parsed == {"all": ["echo hi"], "build": []}


def test_makefile_defines_the_readme_targets() -> None:
    targets = make_targets(MAKEFILE.read_text())
    missing = README_TARGETS - targets.keys()
    assert not missing, f"Makefile lacks targets {sorted(missing)} (has {sorted(targets)})"


def test_make_demo_runs_the_demo_script() -> None:
    recipe = " ".join(make_targets(MAKEFILE.read_text())["demo"])
    assert "topologies/demo.py" in recipe
    demo = (REPO / "topologies" / "demo.py").read_text()
    assert "def main(" in demo and 'if __name__ == "__main__":' in demo
    assert (REPO / "topologies" / "data" / "sample.txt").is_file()


def test_ci_entry_point_is_executable_and_runs_make_test() -> None:
    script = REPO / ".ci" / "run"
    assert script.is_file()
    assert os.access(script, os.X_OK), ".ci/run must be executable"
    lines = [line.strip() for line in script.read_text().splitlines()]
    assert lines[0].startswith("#!"), ".ci/run needs a shebang line"
    commands = [line for line in lines if line and not line.startswith("#")]
    assert any(re.fullmatch(r"(exec\s+)?make\s+test", line) for line in commands), commands


# --- Dockerfile ----------------------------------------------------------------------------------

def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_dockerfile_installs_the_package_without_dev_extras() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    runs = " && ".join(args for keyword, args in instructions if keyword == "RUN")
    assert re.search(r"pip install (\S+ )*\.(\s|$)", runs), runs
    assert "[dev]" not in runs and "-e " not in runs


def test_dockerfile_entrypoint_is_the_installed_cli() -> None:
    entrypoints = [json.loads(args) for keyword, args in dockerfile_instructions() if keyword == "ENTRYPOINT"]
    assert entrypoints == [["streamproc"]]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert "streamproc" in scripts, "the image's entrypoint must be a console script of the package"


def test_dockerfile_copies_files_that_exist_and_are_not_ignored() -> None:
    ignored = [line.strip().lstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for needed in (".venv", ".git"):
        assert needed in ignored, f".dockerignore should exclude {needed}"
    for keyword, args in dockerfile_instructions():
        if keyword in ("COPY", "ADD"):
            sources = [part for part in shlex.split(args) if not part.startswith("--")][:-1]
            for source in sources:
                assert (REPO / source).exists(), f"{keyword} {source}: not in the repository"
    # .dockerignore patterns are anchored at the build context's root: `state` must not hide streamproc/state.
    for needed in ("pyproject.toml", "streamproc", "streamproc/state", "topologies/wordcount.py"):
        assert (REPO / needed).exists()
        assert needed not in ignored and needed.split("/")[0] not in ignored, f"{needed} is excluded from the image"


# --- docker compose ------------------------------------------------------------------------------

def compose_command() -> list[str]:
    """``docker compose`` (the CLI plugin), else a standalone Compose v2 binary, else skip."""
    docker = shutil.which("docker")
    if docker is None and shutil.which("docker-compose") is None:
        pytest.skip("the docker client is not installed, so docker-compose.yml cannot be validated here")
    candidates: list[list[str]] = []
    if docker is not None:
        candidates.append([docker, "compose"])
    for standalone in (shutil.which("docker-compose"), str(Path(sys.executable).parent / "docker-compose")):
        if standalone and Path(standalone).is_file():
            candidates.append([standalone])
    for command in candidates:
        probe = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=30)
        if probe.returncode == 0 and re.search(r"\bv?2\.\d+", probe.stdout):
            return command
    pytest.skip("the docker client is installed but Compose v2 is not (no `docker compose` plugin or "
                "docker-compose v2 binary), so docker-compose.yml cannot be validated here")


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*compose_command(), "-f", str(COMPOSE_FILE), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def compose_config() -> dict[str, Any]:
    assert COMPOSE_FILE.is_file()
    result = compose("config", "--format", "json")
    assert result.returncode == 0, f"docker compose config failed:\n{result.stderr}"
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_compose_file_validates() -> None:
    result = compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_compose_has_the_kafka_and_wordcount_services(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    assert {"kafka", "init", "wordcount"} <= services.keys()
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"].get("healthcheck", {}).get("test"), "kafka needs a healthcheck for depends_on"


def test_compose_runs_the_kafka_version_the_tests_run() -> None:
    from tests.support.apache_kafka import VERSION

    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    images = {name: service["image"] for name, service in services.items()
              if service.get("image", "").startswith("apache/kafka:")}
    assert images and set(images.values()) == {f"apache/kafka:{VERSION}"}, images


def test_ci_runs_the_kafka_half_and_fetches_its_jars_first() -> None:
    targets = make_targets(MAKEFILE.read_text())
    assert "test-kafka" in targets and any("test-kafka" in line for line in
                                           MAKEFILE.read_text().splitlines() if line.startswith("test:"))
    assert any("STREAMPROC_TEST_BROKER=kafka" in line for line in targets["test-kafka"])
    script = (REPO / ".ci" / "run").read_text()
    assert script.index("make kafka-jars") < script.index("\nmake test")


def test_wordcount_service_runs_the_wordcount_topology_against_the_compose_kafka(
        compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    command = services["wordcount"]["command"]
    assert command[:2] == ["run", "topologies/wordcount.py"]
    bootstrap = command[command.index("--bootstrap-servers") + 1]
    assert bootstrap in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"], \
        "the word count must use a listener that kafka advertises inside the compose network"
    state_dir = command[command.index("--state-dir") + 1]
    mounts = {volume["target"]: volume for volume in services["wordcount"].get("volumes", [])}
    assert state_dir in mounts and mounts[state_dir]["type"] == "volume", "the state dir must be a named volume"
    assert mounts[state_dir]["source"] in compose_config.get("volumes", {})
    depends = services["wordcount"]["depends_on"]
    assert depends["kafka"]["condition"] == "service_healthy"
    assert depends["init"]["condition"] == "service_completed_successfully"


def test_init_service_creates_the_wordcount_topics(compose_config: dict[str, Any]) -> None:
    init = compose_config["services"]["init"]
    script = " ".join([*init.get("entrypoint", []), *init.get("command", [])])
    assert "/opt/kafka/bin/kafka-topics.sh" in script
    assert re.search(r"--topic sentences\s+--partitions 4\b", script), script
    assert "--topic word-counts" in script
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_files_the_compose_stack_references_exist(compose_config: dict[str, Any]) -> None:
    build = compose_config["services"]["wordcount"]["build"]
    context = Path(build["context"])
    assert context.resolve() == REPO
    assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE and DOCKERFILE.is_file()
    workdirs = [args for keyword, args in dockerfile_instructions() if keyword == "WORKDIR"]
    copies = [args for keyword, args in dockerfile_instructions() if keyword == "COPY"]
    assert workdirs and any(shlex.split(args)[-1] in (".", "./", workdirs[-1]) for args in copies), \
        "the image must hold the repository at its WORKDIR for relative topology paths to resolve"
    scripts = [arg for arg in compose_config["services"]["wordcount"]["command"] if arg.endswith(".py")]
    assert scripts, "the word count service names no topology file"
    for script in scripts:
        assert (REPO / script).is_file(), f"{script} is referenced by docker-compose.yml but missing"


# --- the monitoring services and deploy/ -----------------------------------------------------------

def bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts."""
    return {v["target"]: Path(v["source"]) for v in service.get("volumes", []) if v["type"] == "bind"}


def published(service: dict[str, Any]) -> dict[int, int]:
    """Container port -> host port."""
    return {int(p["target"]): int(p["published"]) for p in service.get("ports", [])}


def test_compose_has_schema_registry_prometheus_and_grafana(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    expected = {"schema-registry": ("confluentinc/cp-schema-registry:", 8081), "prometheus": ("prom/prometheus:", 9090),
                "grafana": ("grafana/grafana:", 3000)}
    for name, (image, port) in expected.items():
        assert name in services, f"docker-compose.yml has no {name} service"
        assert services[name]["image"].startswith(image)
        assert published(services[name]).get(port) == port, f"{name} should publish port {port}"
    registry = services["schema-registry"]["environment"]
    assert registry["SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"].endswith("kafka:9092")
    assert "kafka:9092" in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]


def test_every_file_the_compose_stack_mounts_is_in_the_repository(compose_config: dict[str, Any]) -> None:
    mounts = [(name, target, source) for name, service in compose_config["services"].items()
              for target, source in bind_mounts(service).items()]
    assert len(mounts) >= 3, mounts
    for name, target, source in mounts:
        assert source.resolve().is_relative_to(REPO), f"{name} mounts {source}, outside the repository"
        assert source.exists(), f"{name} mounts {source} at {target}, but it is not in the repository"


def test_prometheus_scrapes_the_port_the_word_count_serves_metrics_on(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    command = services["wordcount"]["command"]
    port = int(command[command.index("--metrics-port") + 1])
    assert published(services["wordcount"]).get(port) == port
    config_path = next(arg.split("=", 1)[1] for arg in services["prometheus"]["command"]
                       if arg.startswith("--config.file="))
    mounted = bind_mounts(services["prometheus"])[config_path]
    assert mounted.resolve() == REPO / "deploy" / "prometheus" / "prometheus.yml"
    config = yaml.safe_load(mounted.read_text())
    targets = [t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert targets == [f"wordcount:{port}"]


def test_prometheus_config_passes_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian package prometheus, which .ci/run installs) is not installed")
    result = subprocess.run([promtool, "check", "config", str(REPO / "deploy" / "prometheus" / "prometheus.yml")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_is_provisioned_with_the_compose_prometheus_and_the_dashboard(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    mounts = bind_mounts(services["grafana"])
    provisioning = mounts["/etc/grafana/provisioning"]
    assert provisioning.resolve() == REPO / "deploy" / "grafana" / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    prometheus_port = next(iter(published(services["prometheus"])))
    assert source["type"] == "prometheus" and source["url"] == f"http://prometheus:{prometheus_port}"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "streamproc.yml").read_text())["providers"]
    dashboards = mounts[provider["options"]["path"]]
    assert dashboards.resolve() == REPO / "deploy" / "grafana" / "dashboards"
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (dashboards / Path(home).relative_to(provider["options"]["path"])).is_file()
    dashboard = json.loads((dashboards / "streamproc.json").read_text())
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p.get("targets", [])}
    assert uids == {source["uid"]}, "every panel must query the provisioned datasource"


def test_dashboard_shows_what_the_issue_asks_for() -> None:
    dashboard = json.loads((REPO / "deploy" / "grafana" / "dashboards" / "streamproc.json").read_text())
    titles = " | ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("consumed", "emitted", "latency", "lag", "checkpoint", "restore", "dead-letter", "state"):
        assert topic in titles, f"no panel about {topic}: {titles}"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_the_dashboards_time_row_shows_lag_late_records_windows_timers_and_expiry() -> None:
    panels = json.loads((REPO / "deploy" / "grafana" / "dashboards" / "streamproc.json").read_text())["panels"]
    start = next(i for i, p in enumerate(panels) if p["type"] == "row" and p["title"] == "Time")
    end = next((i for i, p in enumerate(panels) if i > start and p["type"] == "row"), len(panels))
    queried = " ".join(t["expr"] for p in panels[start + 1:end] for t in p["targets"])
    for metric in ("streamproc_stream_time_lag_seconds", "streamproc_late_records_total", "streamproc_open_windows",
                   "streamproc_pending_timers", "streamproc_expired_keys_total"):
        assert metric in queried, f"the Time row does not show {metric}"
    below = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels[:start])
    assert panels[start]["gridPos"]["y"] >= below, "the Time row overlaps the panels above it"
