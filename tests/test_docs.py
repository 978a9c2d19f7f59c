"""The documentation site: every public name is in the API reference with a docstring, and the README
becomes its guide pages with working links. `make docs` builds it with `mkdocs build --strict`."""

from __future__ import annotations

import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import streamproc
import streamproc.testing
import streamproc.windows
from tests.support.kafka import REPO

DOCS = REPO / "docs"

#: Classes of streamproc.testing that a test uses only through the driver.
TESTING_INTERNAL = {"MemoryProducer"}

#: Public names allowed to lack a docstring for now. The test fails when an entry is no longer needed, so
#: the list cannot go stale.
PENDING: set[str] = set()


def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def public_names() -> dict[str, Any]:
    names = {f"streamproc.{n}": getattr(streamproc, n) for n in streamproc.__all__}
    names.update({f"streamproc.windows.{n}": getattr(streamproc.windows, n) for n in streamproc.windows.__all__})
    for name, obj in vars(streamproc.testing).items():
        if (inspect.isclass(obj) and obj.__module__ == "streamproc.testing" and not name.startswith("_")
                and name not in TESTING_INTERNAL):
            names[f"streamproc.testing.{name}"] = obj
    return names


def test_every_public_name_is_in_the_reference() -> None:
    referenced = {m for page in (DOCS / "reference").glob("*.md")
                  for m in re.findall(r"^::: (\S+)$", page.read_text(), re.MULTILINE)}
    assert set(public_names()) - referenced == set()
    assert referenced - set(public_names()) == set()  # nothing private, nothing that no longer exists


def _undocumented() -> set[str]:
    missing = set()
    for full, obj in public_names().items():
        short = full.rsplit(".", 1)[1]
        if not (obj.__doc__ or "").strip():
            missing.add(short)
        if not inspect.isclass(obj):
            continue
        for attribute, member in vars(obj).items():
            if attribute.startswith("_"):
                continue
            function = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
            if inspect.isfunction(function) and not (function.__doc__ or "").strip():
                missing.add(f"{short}.{attribute}")
    return missing


def test_every_public_class_and_method_has_a_docstring() -> None:
    missing = _undocumented()
    assert missing - PENDING == set(), "public names without a docstring"
    assert PENDING - missing == set(), "documented now: remove them from PENDING"


def test_the_readme_becomes_the_home_page_and_one_guide_page_per_section() -> None:
    hooks = _hooks()
    readme = (REPO / "README.md").read_text()
    pages = hooks.split_readme(readme)
    sections = re.findall(r"^## (.+)$", hooks._strip_code_positions(readme), re.MULTILINE)
    assert [p.title for p in pages] == ["Home", *[s.replace("`", "") for s in sections]]
    assert pages[0].text.startswith("# streamproc")
    concepts = next(p for p in pages if p.title == "Concepts")
    assert concepts.uri == "guide/concepts.md" and concepts.text.startswith("# Concepts\n")
    assert "".join(p.text for p in pages).count("```") == readme.count("```")


def test_links_are_rewritten_for_the_site() -> None:
    hooks = _hooks()
    pages = hooks.split_readme(
        "# t\n\nSee [the CLI](#the-cli) and [`topologies/wordcount.py`](topologies/wordcount.py).\n"
        "## The CLI\n\nBack to [Home](#t); [a section here](#options); [elsewhere](https://example.org).\n"
        "### Options\n\n```\n## not a heading\n[x](#the-cli)\n```\n")
    hooks.rewrite_links(pages, REPO)
    home, cli = pages
    assert "[the CLI](guide/the-cli.md#the-cli)" in home.text
    assert "`topologies/wordcount.py`" in home.text and "](topologies" not in home.text
    assert "[Home](../index.md#t)" in cli.text and "[a section here](#options)" in cli.text
    assert "[elsewhere](https://example.org)" in cli.text
    assert "```\n## not a heading\n[x](#the-cli)\n```" in cli.text  # code is left alone
    assert len(pages) == 2


def test_nothing_in_the_repository_points_outside_it() -> None:
    """Files outside the repository (the shared notes of its developers, for one) do not exist for a user."""
    outside = re.compile(r"\bBROKER\.md|\bDESIGN\.md|\bshared/|/work/|\.\./\.\./")
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    files = [REPO / name for name in listed.splitlines()]
    offenders = sorted(str(p.relative_to(REPO)) for p in files
                       if p.is_file() and p != Path(__file__) and outside.search(p.read_text(errors="replace")))
    assert offenders == []
