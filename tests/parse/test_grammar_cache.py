"""How shapes are learned: Lark's cached grammars parse like freshly built ones."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import DATA
from stallscope.parse import grammars, lines
from stallscope.parse.lines import LineParser
from stallscope.records.stream import records


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("STALLSCOPE_NO_CACHE", raising=False)
    grammars.cache_dir.cache_clear()
    grammars.load.cache_clear()
    yield tmp_path / "stallscope"
    grammars.cache_dir.cache_clear()
    grammars.load.cache_clear()


def _bodies() -> list[str]:
    found: list[str] = []
    for path in sorted((DATA / "lkml").glob("*.log"))[:6] + sorted((DATA / "qemu").rglob("*.log"))[:6]:
        with path.open(encoding="utf-8", errors="replace") as handle:
            found += [r.body for r in records(str(path), (line.rstrip("\n") for line in handle))]
    return found


def test_parser_from_the_cache_parses_like_a_fresh_one(private_cache: Path) -> None:
    fresh = LineParser()
    written = sorted(private_cache.glob("lark-*.cache"))
    assert written, "no grammar was cached"
    grammars.load.cache_clear()
    cached = LineParser()  # every grammar loaded from those files
    assert cached._first_patterns == fresh._first_patterns
    bodies = _bodies()
    assert len(bodies) > 3000
    for body in bodies:
        assert cached.parse(body) == fresh.parse(body), body


def test_grammars_are_loaded_only_when_a_line_may_be_of_their_kinds(private_cache: Path) -> None:
    LineParser()  # derives every grammar's first tokens once, and keeps them
    assert len(list(private_cache.glob("first-tokens-*.json"))) == 1
    grammars.load.cache_clear()
    parser = LineParser()
    assert grammars.load.cache_info().currsize == 0
    parsed = parser.parse("MemAlloc-Info: stalling=1 dying=0 exiting=0 victim=0 oom_count=2")
    assert parsed is not None and parsed.kind == "memalloc_info"
    assert 1 <= grammars.load.cache_info().currsize < 5


def test_first_tokens_of_another_grammar_text_are_not_used(private_cache: Path) -> None:
    LineParser()
    (stored,) = private_cache.glob("first-tokens-*.json")
    # Damaged (a crash while another process wrote it is ruled out by the rename, a full disk
    # or an editor is not): derived again from the grammars, never trusted.
    stored.write_text("[[]]", encoding="utf-8")
    grammars.load.cache_clear()
    assert LineParser().parse("MemAlloc-Info: stalling=1 dying=0 exiting=0 victim=0 oom_count=2") is not None
    # A file of another grammar text is another name: edited grammars never meet old patterns.
    order = (("memalloc", ("memalloc_info",)),)
    assert grammars.first_tokens(order)
    names = sorted(path.name for path in private_cache.glob("first-tokens-*.json"))
    assert len(names) == 1 and names != [stored.name]


def test_two_installs_keep_a_cache_file_each(private_cache: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Lark checks the folder of the grammars too: one file for both would be rebuilt on every
    # run of one after a run of the other (a checkout and a wheel of the same release).
    grammars.load("memalloc", ("memalloc_info",))
    first = {path.name: path.stat().st_mtime_ns for path in private_cache.glob("lark-*.cache")}
    other = tmp_path / "wheel" / "grammars"
    shutil.copytree(grammars.grammar_dir(), other)
    monkeypatch.setattr(grammars, "grammar_dir", lambda: other)
    grammars.load.cache_clear()
    grammars.load("memalloc", ("memalloc_info",))
    second = {path.name: path.stat().st_mtime_ns for path in private_cache.glob("lark-*.cache")}
    assert len(first) == 1 and len(second) == 2
    assert all(second[name] == stamp for name, stamp in first.items())  # the first one untouched


def test_cache_folder_is_private(private_cache: Path) -> None:
    folder = grammars.cache_dir()
    assert folder == private_cache
    assert folder.stat().st_mode & 0o077 == 0


def test_no_cache_when_asked_or_when_others_may_write(private_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STALLSCOPE_NO_CACHE", "1")
    assert grammars.cache_dir() is None
    monkeypatch.delenv("STALLSCOPE_NO_CACHE")
    grammars.cache_dir.cache_clear()
    private_cache.mkdir(parents=True, exist_ok=True)
    os.chmod(private_cache, 0o777)  # a folder anyone may write to: its pickles cannot be trusted
    assert grammars.cache_dir() is None
    assert LineParser().parse("MemAlloc-Info: stalling=1 dying=0 exiting=0 victim=0 oom_count=2") is not None


def test_the_test_session_has_a_grammar_cache_of_its_own() -> None:
    # conftest points the cache at a folder of this session: tables from the user's cache (another
    # checkout, another Lark) are never what a test parses with, and none are left behind there.
    from conftest import SESSION_CACHE

    folder = grammars.cache_dir()
    assert folder is not None
    assert folder.resolve().is_relative_to(SESSION_CACHE.resolve())
    assert not folder.resolve().is_relative_to((Path.home() / ".cache").resolve())


# -- the shape store: what earlier runs learned ------------------------------------------------

def _stored_run(bodies: list[str]) -> Path:
    """One run of a stored-shape parser over ``bodies``, remembered: the store's file."""
    writer = LineParser(stored=True)
    for body in bodies:
        writer.parse(body)
    assert writer.lark_calls > 0
    writer.remember()
    return lines.shape_store()  # type: ignore[return-value]


def test_shapes_one_run_learned_parse_the_next_run_without_lark(private_cache: Path) -> None:
    bodies = _bodies()
    expected = [LineParser().parse(body) for body in bodies]
    store = _stored_run(bodies)
    assert store.is_file() and store.parent == private_cache
    written = store.read_bytes()
    reader = LineParser(stored=True)
    assert [reader.parse(body) for body in bodies] == expected
    assert reader.lark_calls == 0
    reader.remember()  # nothing learned: nothing written
    assert store.read_bytes() == written


def _damaged_templates(text: str) -> str:
    """Every stored template replaced by something that is not one, in turn."""
    broken = ['{"kind"', "[1, 2]", '["memalloc_info", [[1, "x"]], [], []]', '"text"',
              '["memalloc_info", [], [["f", [true]]], []]', '["memalloc_info", [], [["f", [99]]], []]',
              '["memalloc_info", [], [], [-1]]', '["no_such_kind", [], [], []]']
    out = []
    for at, line in enumerate(text.splitlines()):
        shape, _template = line.split("\t", 1)
        out.append(f"{shape}\t{broken[at % len(broken)]}\n")
    return "".join(out)


@pytest.mark.parametrize("damage", ["garbage", "templates", "no-tab", "cut"])
def test_a_damaged_shape_store_costs_only_learning_again(private_cache: Path, damage: str) -> None:
    bodies = _bodies()[:1500]
    expected = [LineParser().parse(body) for body in bodies]
    store = _stored_run(bodies)
    text = store.read_text(encoding="utf-8")
    if damage == "garbage":
        store.write_bytes(b"\xff\xfe\x00garbage\n\t\x80\x81")
    elif damage == "templates":
        store.write_text(_damaged_templates(text), encoding="utf-8")
    elif damage == "no-tab":
        store.write_text("a line without its template\n" + text, encoding="utf-8")
    else:
        store.write_text(text[: len(text) // 2], encoding="utf-8")
    again = LineParser(stored=True)
    assert [again.parse(body) for body in bodies] == expected
    assert again.lark_calls > 0
    again.remember()  # what was learned again replaces what was damaged
    last = LineParser(stored=True)
    assert [last.parse(body) for body in bodies] == expected
    assert last.lark_calls == 0


def test_the_shape_store_keeps_the_newest_shapes(private_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lines, "STORED_SHAPES", 5)
    store = _stored_run(_bodies()[:400])
    kept = store.read_text(encoding="utf-8").splitlines()
    assert len(kept) == 5
    newer = LineParser(stored=True)
    assert newer.parse("MemAlloc-Info: stalling=1 dying=0 exiting=0 victim=0 oom_count=2") is not None
    newer.remember()
    after = store.read_text(encoding="utf-8").splitlines()
    assert len(after) == 5 and after[:4] == kept[1:]


def test_a_shape_learned_while_the_store_is_written_is_kept_for_the_next_time(
        private_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Dask's threaded workers share one parser: another thread may learn a shape while
    # remember() writes the ones learned so far (a test of the Dask engine failed that way).
    parser = LineParser(stored=True)
    bodies = _bodies()[:50]
    for body in bodies:
        parser.parse(body)
    encoded = lines._encoded
    late = "MemAlloc-Info: stalling=1 dying=0 exiting=0 victim=0 oom_count=2 and a shape of its own"
    learned_late = []

    def another_thread_learns(template: lines.Template | None) -> list[object] | None:
        if not learned_late:
            calls = parser.lark_calls
            parser.parse(late)
            learned_late.append(parser.lark_calls > calls)
        return encoded(template)

    monkeypatch.setattr(lines, "_encoded", another_thread_learns)
    parser.remember()
    monkeypatch.setattr(lines, "_encoded", encoded)
    assert learned_late == [True]
    assert len(parser._learned) == 1  # the late shape, not written yet
    parser.remember()
    reader = LineParser(stored=True)
    assert [reader.parse(body) for body in [*bodies, late]] == [LineParser().parse(b) for b in [*bodies, late]]
    assert reader.lark_calls == 0


def test_no_shape_store_without_a_cache_folder(private_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STALLSCOPE_NO_CACHE", "1")
    grammars.cache_dir.cache_clear()
    assert lines.shape_store() is None
    parser = LineParser(stored=True)
    assert parser.parse("MemAlloc-Info: stalling=1 dying=0 exiting=0 victim=0 oom_count=2") is not None
    parser.remember()
    assert not list(private_cache.glob("shapes-*"))


def test_the_shape_store_is_named_by_the_grammars(private_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    named = lines.shape_store()
    monkeypatch.setattr(grammars, "grammars_digest", lambda order: "another grammar text")
    assert lines.shape_store() not in (None, named)
