"""Every relative link in README.md and docs/**/*.md leads somewhere: to a file or folder of this repository and,
where it names an `#anchor`, to a heading of that page (GitHub's slugs: lowercase, punctuation other than `-` and
`_` dropped, each space a `-`; a repeated heading gets `-1`, `-2`, ...) or to an explicit `<a id=...>`/`<a name=...>`.

Links to other sites (http, https, mailto) are not followed, and nothing inside a fenced code block, an inline code
span or an HTML comment is a link."""

from __future__ import annotations

import difflib
import re
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
COMMENT = re.compile(r"<!--.*?-->", re.S)
# an inline code span, not across a blank line
CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(?:[^\n]|\n(?![ \t]*\n))+?(?<!`)\1(?!`)")
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.M)
EXPLICIT = re.compile(r"<a\s[^>]*?\b(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", re.I)
LINK_TEXT = r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]"
TARGET = r"<[^<>\n]*>|[^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*"
INLINE = re.compile(rf"!?{LINK_TEXT}\(\s*(?P<target>{TARGET})(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
DEFINITION = re.compile(r"^ {0,3}\[[^\]\n]+\]:[ \t]*(?P<target><[^>\n]*>|\S+)", re.M)
HTML_LINK = re.compile(r"<(?:a|img)\s[^>]*?\b(?:href|src)\s*=\s*[\"'](?P<target>[^\"']*)[\"']", re.I)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http:, https:, mailto:, ...


def _blank(text: str, start: int, end: int) -> str:
    """`text` with [start, end) replaced by spaces, newlines kept: offsets and line numbers stay as they were."""
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def without_fences(text: str) -> str:
    """The page with its fenced code blocks blanked out."""
    lines = text.splitlines(keepends=True)
    out, fence = [], None
    for line in lines:
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
            out.append(re.sub(r"[^\n]", " ", line))
        elif fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line[m.end():].strip():
                fence = None
            out.append(re.sub(r"[^\n]", " ", line))
        else:
            out.append(line)
    return "".join(out)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (its markdown rendered to plain text first)."""
    text = re.sub(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\([^)]*\)", r"\1", heading)  # a link or image: its text
    text = re.sub(r"(`+)(.+?)\1", r"\2", text)  # code spans: their content
    text = re.sub(r"<[^>]+>", "", text)  # HTML tags
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> tuple[str, ...]:
    """Every anchor a page offers, in page order: its headings' slugs (repeats numbered) and explicit ids."""
    text = COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), without_fences(path.read_text(encoding="utf-8")))
    found: list[tuple[int, str]] = [(m.start(), m.group(1)) for m in EXPLICIT.finditer(text)]
    seen: dict[str, int] = {}
    for m in HEADING.finditer(text):
        base = slug(m.group(1))
        if base in seen:
            n = seen[base] + 1
            while f"{base}-{n}" in seen:
                n += 1
            seen[base] = n
            name = f"{base}-{n}"
        else:
            name = base
        seen.setdefault(name, 0)
        found.append((m.start(), name))
    return tuple(name for _, name in sorted(found))


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every link of a page that is not inside code or a comment."""
    text = without_fences(path.read_text(encoding="utf-8"))
    for m in reversed(list(COMMENT.finditer(text))):
        text = _blank(text, m.start(), m.end())
    for m in reversed(list(CODE_SPAN.finditer(text))):
        text = _blank(text, m.start(), m.end())
    out = []
    for pattern in (INLINE, DEFINITION, HTML_LINK):
        for m in pattern.finditer(text):
            target = m.group("target").strip()
            if target.startswith("<") and target.endswith(">"):
                target = target[1:-1]
            out.append((text.count("\n", 0, m.start("target")) + 1, target))
    return sorted(out)


def problem(page: Path, target: str) -> str | None:
    """Why a link of `page` leads nowhere, or None where it resolves."""
    if not target:
        return "an empty link"
    if EXTERNAL.match(target):
        return None
    raw_path, _, anchor = target.partition("#")
    dest = (page.parent / unquote(raw_path)).resolve() if raw_path else page
    if ROOT not in (dest, *dest.parents):
        return f"{dest} is outside the repository"
    if not dest.exists():
        return f"no such file {dest.relative_to(ROOT)}"
    if not anchor or dest.suffix.lower() != ".md":
        return None  # a folder, or a file whose anchors are not headings (a source file's #L10)
    offered = anchors(dest)
    if unquote(anchor) in offered:
        return None
    near = difflib.get_close_matches(unquote(anchor), offered, n=5, cutoff=0.4)
    return (f"{dest.relative_to(ROOT)} has no heading or <a id> `#{anchor}`; "
            f"nearest anchors there: {', '.join('#' + a for a in near) if near else '(none close)'}"
            + ("" if near else f"; its first anchors: {', '.join('#' + a for a in offered[:10])}"))


def test_the_pages_have_links() -> None:
    assert (ROOT / "README.md") in PAGES and len(PAGES) > 5
    assert sum(len(links(p)) for p in PAGES) > 50


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    broken = [f"{page.relative_to(ROOT)}:{line}: ({target}): {why}"
              for line, target in links(page) if (why := problem(page, target)) is not None]
    assert not broken, "links that lead nowhere:\n" + "\n".join(broken)


def test_slugs_follow_github() -> None:
    assert slug("Checkpoints (`lockstep/checkpoint.py`)") == "checkpoints-lockstepcheckpointpy"
    assert slug("The training step") == "the-training-step"
    assert slug("Learning-rate schedules") == "learning-rate-schedules"
    assert slug("3. Deploy") == "3-deploy"
    assert slug("A — B: [link](x.md) `c_d`") == "a--b-link-c_d"


def test_repeated_headings_and_explicit_ids(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Notes\n\n## Notes\n\n```\n# not a heading\n```\n\n## Notes\n\n<a id=\"here\"></a>\n",
                    encoding="utf-8")
    assert anchors(page) == ("notes", "notes-1", "notes-2", "here")


def test_links_in_code_and_comments_are_not_links(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("see [a](a.md) and `[b](b.md)`\n<!-- [c](c.md) -->\n```\n[d](d.md)\n```\n[e\nf](e.md#x) [g](https://x)\n",
                    encoding="utf-8")
    assert links(page) == [(1, "a.md"), (7, "e.md#x"), (7, "https://x")]
