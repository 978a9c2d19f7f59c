"""Running ``streamproc`` commands in the test process and capturing what they print."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from streamproc.cli.main import main


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)
