"""`streamproc ... --help`: every option explains itself and names its default."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from streamproc.cli.main import build_parser

Parsers = Iterator[tuple[str, argparse.ArgumentParser]]


def _parsers(parser: argparse.ArgumentParser, path: str = "streamproc") -> Parsers:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def _arguments() -> Iterator[tuple[str, argparse.Action]]:
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                yield path, action


def _param(path: str, action: argparse.Action) -> object:
    return pytest.param(action, id=f"{path} {'/'.join(action.option_strings) or action.dest}")


ARGUMENTS = [_param(path, action) for path, action in _arguments()]
WITH_DEFAULTS = [_param(path, action) for path, action in _arguments()
                 if action.option_strings and action.default not in (None, False, [])]


def test_every_command_is_covered() -> None:
    commands = {path for path, _ in _parsers(build_parser())}
    assert {"streamproc run", "streamproc broker", "streamproc state get", "streamproc dlq list"} <= commands


@pytest.mark.parametrize("action", ARGUMENTS)
def test_every_argument_has_help(action: argparse.Action) -> None:
    assert action.help and action.help.strip()


@pytest.mark.parametrize("action", WITH_DEFAULTS)
def test_an_option_with_a_default_names_it(action: argparse.Action) -> None:
    assert "default" in (action.help or ""), f"{action.option_strings}: the help does not say its default"


def test_help_renders_for_every_command() -> None:
    for path, parser in _parsers(build_parser()):
        text = parser.format_help()
        assert text.startswith("usage: " + path.split()[0]), path
