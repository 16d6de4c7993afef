"""The documentation is part of the API: these tests keep it true to the code.

- every hook in ``opencrm.plugins.hookspecs`` has a section in ``docs/plugins.md`` titled with
  its exact signature, and every such title names a real hook;
- every ```` ```python ```` block in README.md and docs/*.md runs (each file's blocks in order,
  in one fresh namespace, in a temporary working directory); ```` ```python no-run ```` marks
  the rare block that cannot run, and blocks of ``>>>`` examples are checked with doctest;
- the README's two one-line commands are there, word for word, and ``.ci/run`` runs the test one;
- every event name the services emit is in the events table of ``docs/plugins.md``, and
  every name there is emitted;
- relative links in the README and the docs point at files that exist, and every docs page
  is linked from the README and from docs/index.md;
- docs/getting-started.md names every session service and every ``opencrm`` command.
"""

from __future__ import annotations

import ast
import doctest
import inspect
import re
from pathlib import Path

import pytest

from opencrm.plugins import hookspecs

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "opencrm"
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PLUGINS_DOC = DOCS / "plugins.md"
DOC_FILES = [README, *sorted(DOCS.glob("*.md"))]

DEMO_COMMAND = 'python -m pip install -e ".[serve]" && opencrm serve --demo'
TEST_COMMAND = 'python -m pip install -e ".[test]" && python -m pytest'

HOOK_HEADING = re.compile(r"^### `(opencrm_\w+)\((.*)\)`\s*$", re.MULTILINE)
FENCE = re.compile(r"^(`{3,})(.*)$")


# --- hooks -----------------------------------------------------------------------------------


def hookspec_functions() -> dict[str, object]:
    """Every hook specification: functions named ``opencrm_*`` carrying pluggy's spec marker."""
    found = {
        name: func
        for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("opencrm_")
    }
    assert found, "no hookspecs found: has opencrm.plugins.hookspecs moved?"
    for name, func in found.items():
        assert hasattr(func, "opencrm_spec"), f"{name} is named like a hook but not a @hookspec"
    return found


def expected_heading(name: str, func: object) -> str:
    params = ", ".join(inspect.signature(func).parameters)  # type: ignore[arg-type]
    return f"### `{name}({params})`"


def documented_hooks() -> dict[str, list[str]]:
    """Hook headings in docs/plugins.md: name -> the full heading lines found for it."""
    headings: dict[str, list[str]] = {}
    for match in HOOK_HEADING.finditer(PLUGINS_DOC.read_text(encoding="utf-8")):
        headings.setdefault(match.group(1), []).append(match.group(0).rstrip())
    return headings


@pytest.mark.parametrize("name", sorted(hookspec_functions()))
def test_every_hook_is_documented_under_its_signature(name: str) -> None:
    heading = expected_heading(name, hookspec_functions()[name])
    found = documented_hooks().get(name, [])
    assert found, f"docs/plugins.md has no section for the hook {name}; add:\n{heading}"
    assert found == [heading], (
        f"docs/plugins.md must have exactly one heading {heading!r} for {name}, found {found!r}"
    )


def test_every_hook_heading_names_an_existing_hook() -> None:
    specs = hookspec_functions()
    unknown = sorted(set(documented_hooks()) - set(specs))
    assert not unknown, f"docs/plugins.md documents hooks that do not exist: {unknown}"


def test_hook_sections_have_a_description() -> None:
    text = PLUGINS_DOC.read_text(encoding="utf-8")
    for match in HOOK_HEADING.finditer(text):
        body = text[match.end() :].split("\n#", 1)[0]
        assert len(body.split()) >= 30, f"the section {match.group(0)!r} says almost nothing"


# --- runnable examples -----------------------------------------------------------------------


def code_blocks(path: Path) -> list[tuple[int, str, str]]:
    """(line number, info string, code) of every fenced block, in order."""
    blocks: list[tuple[int, str, str]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        ticks, info = opening.group(1), opening.group(2).strip()
        start, i = i + 1, i + 1
        while i < len(lines) and not (
            lines[i].startswith(ticks) and lines[i].strip("`").strip() == ""
        ):
            i += 1
        assert i < len(lines), f"{path.name}:{start}: unclosed code fence"
        blocks.append((start, info, "\n".join(lines[start:i]) + "\n"))
        i += 1
    return blocks


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """The blocks to run: info string exactly ``python`` (``python no-run`` is skipped)."""
    out = []
    for line, info, code in code_blocks(path):
        words = info.split()
        if words[:1] in (["python"], ["pycon"]) and "no-run" not in words[1:]:
            out.append((line, code))
    return out


def run_block(path: Path, line: int, code: str, namespace: dict[str, object]) -> None:
    where = f"{path.relative_to(ROOT)}:{line}"
    if code.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(code, namespace, where, str(path), line)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(test, clear_globs=False)
        assert runner.failures == 0, f"{where}: doctest failed (see the output above)"
        return
    try:
        exec(compile(code, where, "exec"), namespace)
    except Exception as exc:
        raise AssertionError(f"{where}: the example raised {exc!r}") from exc


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_examples_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples may write crm.db and the like
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem.replace('-', '_')}"}
    for line, code in python_blocks(path):
        run_block(path, line, code, namespace)
    engines = [v for v in namespace.values() if type(v).__name__ == "CRM"]
    for crm in engines:
        crm.close()  # type: ignore[attr-defined]


def test_examples_are_found() -> None:
    """Guard the guard: the fence parser sees the examples, and no-run stays rare."""
    for path in (README, PLUGINS_DOC, DOCS / "contacts.md"):
        assert python_blocks(path), f"no runnable python examples found in {path.name}"
    skipped = [
        (p.name, line)
        for p in DOC_FILES
        for line, info, _ in code_blocks(p)
        if info.split()[:1] == ["python"] and "no-run" in info.split()
    ]
    assert len(skipped) <= 3, f"too many ```python no-run blocks: {skipped}"


# --- the two commands ------------------------------------------------------------------------


def test_readme_has_the_two_one_line_commands() -> None:
    lines = [line.strip() for line in README.read_text(encoding="utf-8").splitlines()]
    assert "## Two commands on a fresh machine" in lines
    assert DEMO_COMMAND in lines, f"README must show, on one line: {DEMO_COMMAND}"
    assert TEST_COMMAND in lines, f"README must show, on one line: {TEST_COMMAND}"


def test_ci_runs_the_readme_test_command() -> None:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert TEST_COMMAND in lines, f".ci/run must run the README's test command: {TEST_COMMAND}"


# --- links -----------------------------------------------------------------------------------

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    missing = []
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # an external URL or an anchor on the same page
        resolved = (path.parent / target.split("#", 1)[0]).resolve()
        if not resolved.exists():
            name = (
                resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else target
            )
            missing.append(name)
    assert not missing, f"{path.name} links to files that do not exist: {missing}"


def test_every_docs_page_is_linked_from_the_readme_and_the_index() -> None:
    pages = {p.name for p in DOCS.glob("*.md")}
    from_readme = {
        Path(t).name for t in LINK.findall(README.read_text(encoding="utf-8")) if "docs/" in t
    }
    from_index = {Path(t).name for t in LINK.findall((DOCS / "index.md").read_text())}
    assert sorted(pages - from_readme) == []
    assert sorted(pages - from_index - {"index.md"}) == []


def test_the_before_commit_hook_lists_every_repository() -> None:
    from opencrm.core.ports import UnitOfWork

    section = PLUGINS_DOC.read_text(encoding="utf-8").split("### `opencrm_before_commit", 1)[1]
    listed = re.findall(r"`uow\.([a-z_]+)`", section.split("\n### ", 1)[0])
    repositories = [n for n in UnitOfWork.__annotations__ if not n.startswith("_")]
    assert sorted(set(repositories) - set(listed)) == []


def test_storage_lists_every_migration() -> None:
    versions = SRC / "storage" / "migrations" / "versions"
    revisions = sorted(p.name[:4] for p in versions.glob("[0-9][0-9][0-9][0-9]_*.py"))
    text = (DOCS / "storage.md").read_text(encoding="utf-8")
    listed = re.findall(r"^- `(\d{4})`: ", text, re.MULTILINE)
    assert listed == revisions


# --- events ----------------------------------------------------------------------------------

EVENT_NAME = re.compile(r"`([a-z_]+\.[a-z_]+)`")


def emitted_events() -> tuple[set[str], list[re.Pattern[str]]]:
    """Event names the source emits: string constants given to ``.emit(...)`` (or to
    ``access_event``), both branches of ``a if c else b``, and f-strings as patterns."""
    names: set[str] = set()
    patterns: list[re.Pattern[str]] = []

    def collect(node: ast.expr, where: str) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)
        elif isinstance(node, ast.IfExp):
            collect(node.body, where)
            collect(node.orelse, where)
        elif isinstance(node, ast.JoinedStr):
            parts = [
                re.escape(v.value) if isinstance(v, ast.Constant) else "[a-z_]+"
                for v in node.values
            ]
            patterns.append(re.compile("".join(parts)))
        elif not (isinstance(node, ast.Name) and node.id == "name"):  # access_event's argument
            pytest.fail(f"{where}: an event name this test cannot read: {ast.unparse(node)}")

    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if callee == "emit" and node.args:
                collect(node.args[0], where)
            elif callee == "access_event" and len(node.args) > 1:
                collect(node.args[1], where)
    return names, patterns


def documented_events() -> set[str]:
    text = PLUGINS_DOC.read_text(encoding="utf-8").split("\nThe events emitted today:", 1)[1]
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert rows, "no events table in docs/plugins.md"
    return {name for row in rows for name in EVENT_NAME.findall(row.split(" | ", 1)[0])}


def test_every_emitted_event_is_documented_and_every_documented_one_emitted() -> None:
    names, patterns = emitted_events()
    documented = documented_events()
    assert {"contact.created", "opportunity.access_changed"} <= names
    assert sorted(names - documented) == []
    for pattern in patterns:
        assert any(pattern.fullmatch(d) for d in documented), pattern.pattern
    stale = [d for d in documented if d not in names and not any(p.fullmatch(d) for p in patterns)]
    assert stale == []


# --- getting started -------------------------------------------------------------------------


def test_getting_started_names_every_session_service_and_command() -> None:
    from opencrm import CRM, User
    from opencrm.cli import _parser

    text = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    crm = CRM.open("sqlite://", load_entrypoints=False)
    try:
        areas = [a for a in vars(crm.session(User(id="x"))) if a != "user"]
    finally:
        crm.close()
    assert len(areas) == 21
    assert [a for a in areas if f"`s.{a}`" not in text] == []
    commands = []
    parser = _parser()
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        for name, sub in action.choices.items():
            nested = [a for a in sub._actions if a.choices and a.dest != "help"]
            subs = [f"{name} {n}" for a in nested for n in a.choices] if nested else [name]
            commands.extend(subs)
    assert {"db upgrade", "reminders", "serve"} <= set(commands)
    assert [c for c in commands if f"opencrm {c}" not in text] == []
