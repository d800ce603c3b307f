"""Every relative link in the repository's markdown resolves in a fresh clone.

A link's file must be in the repository (tracked, or new and not ignored: a link into
``.perfdata/`` or ``.venv/`` works on one machine only); a ``#anchor`` into a markdown
file must name one of its headings, slugged as GitHub slugs them; and nothing may point
outside the repository. A path written in backticks that climbs (``../x``) is held to
the same rules as a link: the README once sent readers to ``../shared/spec/kpis.md``,
which no clone has.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_HTML_ANCHOR = re.compile(r"""<a\s[^>]*?(?:name|id)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
# A code span: a run of backticks, content without a blank line, the same run again.
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)", re.DOTALL)
# [text](destination "title") and ![alt](destination); the text may hold one level of
# brackets and may wrap onto the next line.
_INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]"
    r"\(\s*(<[^>\n]*>|[^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)"
)
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*(<[^>\n]*>|\S+)", re.MULTILINE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# A path written in backticks that starts by climbing, `../x` or `./../x`: plainly a
# relative path, so it must name something a clone has.
_CLIMBING_PATH = re.compile(r"^(?:\./)*\.\./\S*$")


@dataclass(frozen=True)
class Reference:
    line: int
    target: str
    kind: str  # "link" or "code span"


def repository_files(root: Path) -> set[str]:
    """Files a clone has (tracked, or new and not ignored), as paths relative to root."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            check=True, capture_output=True, timeout=60,
        ).stdout.decode("utf-8")
        names = [name for name in listed.split("\0") if name]
    except (OSError, subprocess.SubprocessError):
        # Not a git checkout (an unpacked archive): every file that is not hidden or a build product.
        skip = {"node_modules", "build", "dist", "__pycache__"}
        names = [
            path.relative_to(root).as_posix() for path in root.rglob("*")
            if path.is_file() and not any(part.startswith(".") or part in skip for part in path.relative_to(root).parts)
        ]
    return {name for name in names if (root / name).is_file()}


def markdown_files(root: Path, files: set[str]) -> list[str]:
    return sorted(name for name in files if name.endswith(".md"))


def blank_code(text: str) -> str:
    """The text with fenced and indented code blocks and code spans blanked out, line
    numbers kept, so nothing inside code is read as a link or a heading."""
    lines = text.split("\n")
    fence: str | None = None
    in_code = False
    previous = ""  # the last non-blank line outside a code block
    after_blank = True
    for index, line in enumerate(lines):
        if fence is not None:
            if re.match(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$", line):
                fence = None
            lines[index] = ""
            continue
        opening = _FENCE.match(line)
        if opening:
            fence, in_code = opening.group(1), False
            lines[index] = ""
            continue
        indented = line.startswith("    ") or line.startswith("\t")
        if line.strip() == "":
            after_blank = True
            continue
        # An indented block after a blank line is code, unless it continues a list item.
        if indented and (in_code or (after_blank and not (_LIST_ITEM.match(previous) or previous[:1].isspace()))):
            in_code = True
            lines[index] = ""
            after_blank = False
            continue
        in_code, after_blank, previous = False, False, line
    return "\n".join(lines)


def code_spans(text: str) -> list[tuple[int, str]]:
    return [(match.start(), match.group(2).strip()) for match in _CODE_SPAN.finditer(text)]


def _without_code_spans(text: str) -> str:
    # Same length, newlines kept, so offsets still give line numbers.
    return _CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", "x", m.group(0)), text)


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def references(text: str) -> list[Reference]:
    """The links of a markdown text, and the paths it writes in backticks."""
    prose = blank_code(text)
    found = []
    for offset, content in code_spans(prose):
        if _CLIMBING_PATH.match(content):
            found.append(Reference(_line_of(prose, offset), content, "code span"))
    linkable = _without_code_spans(prose)
    for pattern in (_INLINE_LINK, _REFERENCE_DEFINITION):
        for match in pattern.finditer(linkable):
            target = match.group(1)
            if target.startswith("<") and target.endswith(">"):
                target = target[1:-1]
            found.append(Reference(_line_of(linkable, match.start()), target, "link"))
    return sorted(found, key=lambda r: r.line)


def _heading_text(raw: str) -> str:
    """A heading as GitHub renders it to text: code spans, links, images, emphasis and tags unwrapped."""
    text = _CODE_SPAN.sub(lambda m: m.group(2).strip(), raw)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    return text


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (letters, digits,
    '_' and '-' kept), each space a '-'."""
    return re.sub(r"[^\w\- ]", "", _heading_text(heading).strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor GitHub gives a markdown text: its headings' slugs (a repeated one
    numbered -1, -2, ...) and explicit <a name/id> anchors."""
    seen: dict[str, int] = {}
    result = set()
    lines = blank_code(text).split("\n")
    for index, line in enumerate(lines):
        heading = _HEADING.match(line)
        if heading:
            title = heading.group(2)
        elif (index + 1 < len(lines) and line.strip() and not _LIST_ITEM.match(line)
              and _SETEXT_UNDERLINE.match(lines[index + 1]) and not _HEADING.match(line)):
            title = line.strip()
        else:
            continue
        base = slug(title)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    result.update(match.group(1) for match in _HTML_ANCHOR.finditer(text))
    return result


def _resolve(document: str, path: str) -> str | None:
    """The repository-relative path a relative link names, or None if it climbs out."""
    parts: list[str] = []
    for part in (*PurePosixPath(document).parent.parts, *PurePosixPath(path).parts):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def problems(root: Path, document: str, files: set[str]) -> list[str]:
    """What is wrong with the relative links of one markdown file, one line each."""
    text = (root / document).read_text(encoding="utf-8")
    directories = {str(PurePosixPath(name).parent) for name in files}
    directories |= {str(parent) for name in files for parent in PurePosixPath(name).parents}
    found = []
    for ref in references(text):
        where = f"{document}:{ref.line}: {ref.kind} {ref.target!r}"
        if _SCHEME.match(ref.target) or ref.target.startswith("//"):
            continue  # http:, https:, mailto:...: not the repository's to check
        path, _, anchor = ref.target.partition("#")
        path = unquote(path)
        if path.startswith("/"):
            found.append(f"{where} is absolute: GitHub resolves it outside the repository; make it relative")
            continue
        target = _resolve(document, path) if path else document
        if target is None:
            found.append(f"{where} points outside the repository")
            continue
        if target not in files and target not in directories and target != "":
            found.append(f"{where}: {target} is not in the repository")
            continue
        if anchor and target.endswith(".md") and target in files:
            if unquote(anchor).lower() not in anchors((root / target).read_text(encoding="utf-8")):
                found.append(f"{where}: {target} has no heading with the anchor #{anchor}")
    return found


FILES = repository_files(ROOT)
DOCUMENTS = markdown_files(ROOT, FILES)


def test_the_documents_are_found():
    for required in ("README.md", "SECURITY.md", "docs/contract/README.md"):
        assert required in DOCUMENTS
    # The parser still finds the links it should (a broken pattern would pass everything).
    links = [r for d in DOCUMENTS for r in references((ROOT / d).read_text(encoding="utf-8")) if r.kind == "link"]
    assert len(links) >= 30


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_relative_link_resolves(document):
    assert problems(ROOT, document, FILES) == []


def test_the_readme_points_at_the_contract():
    targets = {r.target.partition("#")[0] for r in references((ROOT / "README.md").read_text(encoding="utf-8"))}
    assert "docs/contract/README.md" in targets
    contract = (ROOT / "docs/contract/README.md").read_text(encoding="utf-8")
    pages = {r.target for r in references(contract) if r.kind == "link" and not r.target.startswith("..")}
    assert {"kpis.md", "sources.md", "sirius.md", "uptime.md", "costs.md", "publication.md"} <= pages


def test_broken_links_are_reported(tmp_path):
    """The checker itself: each kind of breakage is found, and what is right is not."""
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "sub" / "page.md").write_text(
        "# A page\n\n## Time, and `months` (UK)\n\n## Repeated\n\n## Repeated\n\nSetext\n------\n", encoding="utf-8"
    )
    (tmp_path / "docs" / "picture.png").write_bytes(b"\x89PNG")
    (tmp_path / "README.md").write_text(
        "\n".join([
            "Good: [page](docs/sub/page.md), [time](docs/sub/page.md#time-and-months-uk),",  # 1
            "[again](docs/sub/page.md#repeated-1), [setext](<docs/sub/page.md#setext>), ![p](docs/picture.png),",
            "[here](#readme-heading), [web](https://example.org/x.md), [dir](docs/sub/), [wrapped",
            "text](docs/sub/page.md \"title\"), `docs/../README.md`.",
            "Bad: [gone](docs/missing.md)",  # 5
            "[anchor](docs/sub/page.md#no-such-heading)",
            "[out](../shared/spec/kpis.md)",
            "the contract in `../shared/spec/kpis.md`",
            "[root](/docs/sub/page.md)",
            "[ref]: docs/nowhere.md",  # 10
            "",
            "    [in an indented code block](not/checked.md)",
            "",
            "```",
            "[in a fenced block](not/checked.md)",  # 15
            "```",
            "",
            "## README heading",
        ]),
        encoding="utf-8",
    )
    files = {"README.md", "docs/sub/page.md", "docs/picture.png"}
    found = problems(tmp_path, "README.md", files)
    assert [line.split(":")[1] for line in found] == ["5", "6", "7", "8", "9", "10"], found
    assert "docs/missing.md is not in the repository" in found[0]
    assert "no heading with the anchor #no-such-heading" in found[1]
    assert "points outside the repository" in found[2] and "points outside the repository" in found[3]
    assert "absolute" in found[4]
    # From a page two folders down, climbing to the root is fine, one more is not; a
    # climbing path in backticks must name a file too.
    (tmp_path / "docs" / "sub" / "page.md").write_text(
        "[up](../../README.md) [over](../../../x.md) `../../README.md` `../../shared/spec/costs.md`\n", encoding="utf-8"
    )
    assert [p.split(": ", 1)[1] for p in problems(tmp_path, "docs/sub/page.md", files)] == [
        "code span '../../shared/spec/costs.md': shared/spec/costs.md is not in the repository",
        "link '../../../x.md' points outside the repository",
    ]


def test_an_ignored_file_is_not_in_the_repository(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text(".perfdata/\n", encoding="utf-8")
    (tmp_path / ".perfdata").mkdir()
    (tmp_path / ".perfdata" / "kpis.csv").write_text("x\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("[figures](.perfdata/kpis.csv) [me](README.md)\n", encoding="utf-8")
    files = repository_files(tmp_path)
    assert files == {".gitignore", "README.md"}
    assert problems(tmp_path, "README.md", files) == [
        "README.md:1: link '.perfdata/kpis.csv': .perfdata/kpis.csv is not in the repository"
    ]
