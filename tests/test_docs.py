"""The README is a front door and docs/ the manual: every relative link resolves, every page is reachable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from mlops.cli import app
from tests.conftest import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
MAX_README_WORDS = 2000
#: Names that look like variables of ours but are Python constants.
NOT_VARIABLES = {"MLOPS_YAML"}

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
LINK = re.compile(r"(?<!!)\[(?:[^\]]|\][^(])*?\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`[^`\n]*`")


def prose(text: str) -> str:
    """The text without fenced code blocks (a `# comment` there is not a heading)."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor in a Markdown file (a repeated heading gets -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose(path.read_text()).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    """Targets of the Markdown links of a file that point inside the repository."""
    text = CODE_SPAN.sub("", prose(path.read_text()))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Links of ``path`` to no file of ``root``, or to an ``#anchor`` that is no heading of their file."""
    broken = []
    for target in relative_links(path):
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path.resolve()
        if not dest.exists() or not dest.is_relative_to(root.resolve()):
            broken.append(f"{target}: no such file")
        elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
            broken.append(f"{target}: no heading #{anchor} in {dest.name}")
    return broken


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_and_heading(path: Path) -> None:
    assert relative_links(path) or path != README, "the README links to its pages"
    assert broken_links(path) == [], f"{path.relative_to(ROOT)} has broken links"


def test_the_readme_is_a_front_door_of_at_most_2000_words() -> None:
    words = len(README.read_text().split())
    assert words <= MAX_README_WORDS, f"README.md has {words} words; move the detail into docs/"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in relative_links(README)}
    assert PAGES, "docs/ has pages"
    missing = [str(p.relative_to(ROOT)) for p in PAGES if p.resolve() not in linked]
    assert missing == [], "pages the README does not link to"


def test_the_readme_command_table_has_every_command() -> None:
    table = README.read_text().split("## Commands", 1)[1].split("\n## ", 1)[0]
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    missing = sorted(name for name in commands if f"| `mlops {name}" not in table)
    assert len(commands) > 10 and missing == [], "commands the README's table does not list"


def test_every_mlops_variable_the_code_reads_is_in_the_configuration_page() -> None:
    code = [p for p in ROOT.rglob("*") if p.is_file() and p.suffix in {".py", ".groovy", ".yml", ".yaml", ""}
            and not {".venv", ".git", "docs", "node_modules"} & set(p.relative_to(ROOT).parts)
            and "egg-info" not in str(p)]
    code += list((ROOT / "dockerfiles").glob("*.Dockerfile"))
    used = set()
    for path in code:
        try:
            used |= set(re.findall(r"\bMLOPS_[A-Z0-9][A-Z0-9_]*[A-Z0-9]\b", path.read_text()))  # not MLOPS_X
        except UnicodeDecodeError:
            continue
    page = (DOCS / "configuration.md").read_text()
    undocumented = sorted(v for v in used - NOT_VARIABLES if f"`{v}`" not in page)
    assert used and undocumented == []


def test_the_link_checker_sees_a_broken_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Top\n\n## Two words\n\n```sh\n# not a heading\n```\n")
    page = tmp_path / "b.md"
    page.write_text("[ok](a.md#two-words) [gone](c.md) [no](a.md#not-a-heading) `[code](x.md)` "
                    "[web](https://example.com)\n")
    assert relative_links(page) == ["a.md#two-words", "c.md", "a.md#not-a-heading"]
    assert anchors(tmp_path / "a.md") == {"top", "two-words"}
    assert broken_links(page, tmp_path) == ["c.md: no such file",
                                            "a.md#not-a-heading: no heading #not-a-heading in a.md"]
