"""mkdocs hooks: README.md, cut at its ``## `` headings, becomes the guide pages of the site.

The README is the user guide on GitHub and in a checkout, so it stays the one source: each of its
top-level sections becomes ``guide/<slug>.md`` (the text before the first one becomes the home
page), and the pages are put in ``nav`` in README order, in front of the API reference. Links are
rewritten to fit: ``(#anchor)`` points at the page that now holds that heading, and a link to a
file of the repository (``topologies/wordcount.py``), which is not part of the site, becomes its
path as code. mkdocs then checks every link and anchor (``validation`` in mkdocs.yml).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

_SECTION = re.compile(r"^## (.+)$", re.MULTILINE)
_HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


@dataclass
class Page:
    title: str
    uri: str
    text: str


def _anchor(heading: str) -> str:
    """The id Python-Markdown's toc extension gives a heading (its default slugify), which GitHub's agrees
    with for the headings the README uses."""
    text = unicodedata.normalize("NFKD", heading.replace("`", "")).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def split_readme(readme: str) -> list[Page]:
    """The home page, then one page per ``## `` section, each with its own headings one level up."""
    starts = [m.start() for m in _SECTION.finditer(_strip_code_positions(readme))]
    intro = readme[: starts[0]] if starts else readme
    pages = [Page("Home", "index.md", intro)]
    for begin, end in zip(starts, [*starts[1:], len(readme)], strict=True):
        chunk = readme[begin:end]
        title = chunk.splitlines()[0][3:].strip()
        body = re.sub(r"^#(#+) ", r"\1 ", chunk, flags=re.MULTILINE)  # "## X" -> "# X", "### Y" -> "## Y"
        body = _restore_fences(chunk, body)
        pages.append(Page(title.replace("`", ""), f"guide/{_anchor(title)}.md", body))
    return pages


def _strip_code_positions(text: str) -> str:
    """``text`` with fenced code blanked out (same length), so a ``## `` inside code is not a heading."""
    return _FENCE.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)


def _restore_fences(original: str, shifted: str) -> str:
    """Undo the heading shift inside fenced code (a ``# comment`` line in a shell block stays as it was)."""
    fences = iter(_FENCE.findall(original))
    return _FENCE.sub(lambda _: next(fences), shifted)


def rewrite_links(pages: list[Page], repository: Path) -> None:
    """Point ``#anchor`` links at the page holding the heading; turn links to repository files into code."""
    where: dict[str, str] = {}
    for page in pages:
        for heading in _HEADING.findall(_strip_code_positions(page.text)):
            where.setdefault(_anchor(heading), page.uri)

    for page in pages:
        def fix(match: re.Match[str], page: Page = page) -> str:
            text, target = match.group(1), match.group(2)
            if target.startswith(("http://", "https://", "mailto:")):
                return match.group()
            if target.startswith("#"):
                holder = where.get(target[1:])
                if holder is None or holder == page.uri:
                    return match.group()  # mkdocs reports an anchor that exists nowhere
                return f"[{text}]({_relative(page.uri, holder)}{target})"
            path = target.split("#")[0]
            if (repository / path).exists():
                shown = f"`{path}`"
                return shown if text.strip("`") == path else f"{text} ({shown} in the repository)"
            return match.group()

        parts = re.split(r"(^```.*?^```)", page.text, flags=re.MULTILINE | re.DOTALL)
        page.text = "".join(p if p.startswith("```") else _LINK.sub(fix, p) for p in parts)


def _relative(source: str, target: str) -> str:
    depth = source.count("/")
    return "../" * depth + target


def _pages(config: MkDocsConfig) -> list[Page]:
    repository = Path(config.config_file_path).parent
    pages = split_readme((repository / "README.md").read_text(encoding="utf-8"))
    rewrite_links(pages, repository)
    return pages


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    pages = _pages(config)
    guide: list[Any] = [{page.title: page.uri} for page in pages[1:]]
    config.nav = [{"Home": "index.md"}, {"Guide": guide}, *(config.nav or [])]
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for page in _pages(config):
        files.append(File.generated(config, page.uri, content=page.text))
    return files
