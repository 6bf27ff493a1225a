"""The README and docs/ are product docs: every relative link they hold leads to a file of the repository, and
they speak of the product, not of how it was made (no work-log words)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
WORK_LOG = re.compile(r"\b(stop \d+|issue \d+|issue #\d+|helper-\d+|our machines|this session)\b", re.IGNORECASE)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_leads_to_a_file(page: Path) -> None:
    links = LINK.findall(page.read_text(encoding="utf-8"))
    targets = [t for t in links if "://" not in t and not t.startswith("mailto:")]
    missing = [t for t in targets if not (page.parent / t).exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_work_log_words(page: Path) -> None:
    found = [m.group(0) for m in WORK_LOG.finditer(page.read_text(encoding="utf-8"))]
    assert not found, f"{page.name}: {found}"


def test_the_readme_stays_short_and_opens_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 320
    quickstart = text[text.index("## Quickstart"):text.index("## Install with pip")]
    assert "make run GOAL=" in quickstart and "make test" in quickstart
