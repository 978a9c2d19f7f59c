"""-X settings are checked once, up front, against one table; refusals exit 2 with the reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streamproc.cli.main import main
from streamproc.errors import ConfigError
from streamproc.kafka.config import consumer_config, producer_config
from streamproc.kafka.overrides import MAX_SETTINGS_FILE, RULES, check_overrides, parse_overrides

WORDCOUNT = "topologies/wordcount.py"


@pytest.mark.parametrize("key", sorted(RULES))
def test_every_refused_setting_says_why(key: str) -> None:
    with pytest.raises(ConfigError, match=f"-X {key}.* is not allowed: {key} "):
        parse_overrides([f"{key}=whatever"])


@pytest.mark.parametrize("pair", ["acks=0", "acks=1", "enable.idempotence=false", "enable.auto.commit=true",
                                  "partition.assignment.strategy=roundrobin", "error_cb=foo", "logger=x",
                                  "group.id=other", "transactional.id=t"])
def test_settings_that_break_the_guarantees_are_refused(pair: str) -> None:
    with pytest.raises(ConfigError, match="is not allowed"):
        parse_overrides([pair])


@pytest.mark.parametrize("pair", ["acks=all", "acks=-1", "enable.idempotence=true", "enable.idempotence=True",
                                  "enable.auto.commit=false", "linger.ms=20", "security.protocol=SSL"])
def test_the_values_streamproc_needs_and_other_settings_pass(pair: str) -> None:
    settings = parse_overrides([pair])
    # and what the clients get still holds the guarantee
    assert producer_config("k", settings, "c")["acks"] in ("all", "-1")
    assert consumer_config("k", "g", settings, "c")["enable.auto.commit"] == "false"


def test_settings_that_depend_on_the_run() -> None:
    check_overrides({"group.instance.id": "host-1"}, workers=1)
    with pytest.raises(ConfigError, match="--workers 2 makes 2 members"):
        check_overrides({"group.instance.id": "host-1"}, workers=2)
    with pytest.raises(ConfigError, match="needs read_committed"):
        check_overrides({"isolation.level": "read_uncommitted"}, exactly_once=True)
    with pytest.raises(ConfigError, match=r"bootstrap\.servers is empty"):
        parse_overrides(["bootstrap.servers="])


def test_a_settings_file_is_read_with_a_bound(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"-X @/dev/zero: the file is larger than 1,048,576 bytes"):
        parse_overrides(["@/dev/zero"])
    big = tmp_path / "big.properties"
    big.write_text("# padding\n" * (MAX_SETTINGS_FILE // 10 + 1))
    with pytest.raises(ConfigError, match="larger than"):
        parse_overrides([f"@{big}"])
    binary = tmp_path / "binary.properties"
    binary.write_bytes(b"linger.ms=\xff\n")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        parse_overrides([f"@{binary}"])


@pytest.mark.parametrize(("args", "expected"), [
    (["--commit-interval", "nan"], "--commit-interval: must be a positive number of seconds, got 'nan'"),
    (["--commit-interval", "inf"], "--commit-interval: must be a positive number of seconds, got 'inf'"),
    (["--shutdown-timeout", "nan"], "--shutdown-timeout: must be a positive number of seconds, got 'nan'"),
])
def test_run_refuses_non_finite_times(args: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", WORDCOUNT, *args])
    assert exit_info.value.code == 2
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize(("args", "env", "expected"), [
    (["--bootstrap-servers", ""], None, "--bootstrap-servers is empty"),
    ([], " ", "$STREAMPROC_BOOTSTRAP_SERVERS is set but empty"),
    (["-X", "acks=0"], None, "-X acks=0 is not allowed: acks an output must be on every in-sync replica"),
    (["-X", "group.instance.id=a", "--workers", "2"], None, "group.instance.id names one member"),
])
def test_run_refuses_before_starting_anything(args: list[str], env: str | None, expected: str,
                                              capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    if env is None:
        monkeypatch.delenv("STREAMPROC_BOOTSTRAP_SERVERS", raising=False)
    else:
        monkeypatch.setenv("STREAMPROC_BOOTSTRAP_SERVERS", env)
    assert main(["run", WORDCOUNT, "--state-dir", str(tmp_path / "s"), *args]) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
    assert os.environ.get("STREAMPROC_BOOTSTRAP_SERVERS") == env
