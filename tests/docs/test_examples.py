"""The examples marked as checked in README.md and docs/ print what they show.

An example is checked when the line before its fence is an HTML comment
starting with ``<!-- checked``:

- a ``console`` block: each ``$ panicquota ...`` line is run, and what it
  prints (stdout and stderr, as a terminal shows them) must be the lines that
  follow it, up to the next ``$``;
- a ``python`` block: it is run in a fresh interpreter, and what it prints
  must be the next fenced block (the output block right after it);
- ``<!-- checked; saved as NAME -->`` before a ``python`` block: it is saved
  as the file NAME and the ``console`` block after it is run next to it
  (``$ pytest ...`` lines run this interpreter's pytest).

In the shown output, ``…`` stands for any text within one line (timings,
rates) and a line ``...`` for any number of lines (a table left out). The
comment ``<!-- checked; deletes keys PREFIX* -->`` names the Redis keys an
example writes on the shared server at 127.0.0.1:6379: they are deleted before
and after the run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```(\w*)\s*$")
_MARK = re.compile(r"^<!-- checked(?:; deletes keys (\S+)\*)?(?:; saved as (\S+))? -->\s*$")
#: The commands a console example may run, and how.
_COMMANDS = {
    "panicquota": [sys.executable, "-m", "panicquota"],
    "pytest": [sys.executable, "-m", "pytest"],
}


@dataclass(frozen=True)
class Example:
    """One checked example: its language, code and the output it must print."""

    where: str
    language: str
    code: str
    output: str
    keys: str | None
    #: (file name, code) of a python example saved, then run by the console block after it.
    saved: tuple[str, str] | None = None


def _blocks(lines: list[str]) -> list[tuple[int, str, str]]:
    """Return (line of the opening fence, language, body) of each fenced block."""
    blocks = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].rstrip() == "```")
        blocks.append((index, opening[1], "\n".join(lines[index + 1 : end]) + "\n"))
        index = end + 1
    return blocks


def examples(path: Path) -> list[Example]:
    """Return the checked examples of a Markdown file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = _blocks(lines)
    found = []
    for number, (start, language, body) in enumerate(blocks):
        mark = _MARK.match(lines[start - 1]) if start else None
        if mark is None:
            continue
        name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
        where = f"{name}:{start + 1}"
        if language == "console":
            found.append(Example(where, language, body, "", mark[1]))
        elif language == "python" and mark[2]:
            run = blocks[number + 1]
            assert run[1] == "console", f"{where}: no console block runs the saved file"
            found.append(Example(where, "console", run[2], "", mark[1], (mark[2], body)))
        elif language == "python":
            output = blocks[number + 1]
            assert output[1] == "", f"{where}: no output block follows"
            found.append(Example(where, language, body, output[2], mark[1]))
        else:
            raise AssertionError(f"{where}: only console and python examples can be checked")
    return found


def matches(shown: str, printed: str) -> bool:
    """Whether *printed* is *shown*, with its ``…`` and ``...`` wildcards.

    Trailing spaces are ignored, as on a terminal (rich pads its titles).
    """
    printed = "".join(f"{line.rstrip()}\n" for line in printed.splitlines())
    pattern = []
    for line in shown.splitlines(keepends=True):
        if line.rstrip("\n") == "...":
            pattern.append(r"(?:.*\n)*?")
        else:
            parts = line.rstrip().split("…")
            pattern.append(".*?".join(re.escape(part) for part in parts) + r"\n")
    return re.fullmatch("".join(pattern), printed) is not None


def _run(command: list[str], cwd: Path) -> str:
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    return result.stdout + result.stderr


def _console(code: str) -> list[tuple[str, str]]:
    """Return (command, shown output) for each ``$ panicquota`` line of a console block."""
    runs: list[tuple[str, list[str]]] = []
    for line in code.splitlines():
        if line.startswith("$ "):
            runs.append((line[2:], []))
        else:
            assert runs, f"output before any command: {line!r}"
            runs[-1][1].append(line + "\n")
    for command, _ in runs:
        assert command.split()[0] in _COMMANDS, f"only {sorted(_COMMANDS)} run: {command!r}"
    return [(command, "".join(shown)) for command, shown in runs]


def _delete(prefix: str) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


ALL = [example for path in DOCUMENTS for example in examples(path)]


@pytest.mark.parametrize("example", ALL, ids=[example.where for example in ALL])
def test_example_prints_what_it_shows(example: Example, tmp_path: Path) -> None:
    """A checked example, run as a reader would, prints the output shown under it."""
    if example.keys is not None:
        _delete(example.keys)
    try:
        if example.language == "python":
            printed = _run([sys.executable, "-c", example.code], tmp_path)
            assert matches(example.output, printed), f"{example.where} printed:\n{printed}"
        else:
            if example.saved is not None:
                name, code = example.saved
                (tmp_path / name).write_text(code, encoding="utf-8")
            for command, shown in _console(example.code):
                words = shlex.split(command)
                argv = [*_COMMANDS[words[0]], *words[1:]]
                printed = _run(argv, tmp_path)
                assert matches(shown, printed), f"{example.where}: $ {command} printed:\n{printed}"
    finally:
        if example.keys is not None:
            _delete(example.keys)


def test_every_document_is_scanned_and_the_readme_has_checked_examples() -> None:
    """The README and each guide under docs/ are read; the README's examples are checked."""
    assert {path.name for path in DOCUMENTS} >= {"README.md", "policy.md", "simulator.md"}
    assert len([e for e in ALL if e.where.startswith("README.md")]) >= 5


def test_wildcards_match_only_what_they_stand_for() -> None:
    """``…`` matches within a line, ``...`` any lines; everything else must be equal."""
    assert matches("wall time … s\n", "wall time 21.06 s\n")
    assert not matches("wall time … s\n", "wall time 21.06 s\nmore\n")
    assert matches("a\n...\nz\n", "a\nb\nc\nz\n")
    assert matches("a\n...\nz\n", "a\nz\n")
    assert not matches("a\nz\n", "a\nb\nz\n")
    assert not matches("ttl: 5 s\n", "ttl: 6 s\n")
    assert matches("title\n", "title   \n")


def test_a_mark_before_an_unknown_block_is_refused(tmp_path: Path) -> None:
    """A checked mark on a block that cannot be run is an error, not a silent skip."""
    page = tmp_path / "page.md"
    page.write_text("<!-- checked -->\n```toml\nx = 1\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="only console and python examples can be checked"):
        examples(page)
