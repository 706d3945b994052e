"""`analyze --format json` against its published JSON Schema (schema/analyze.schema.json)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from conftest import DATA, ROOT, SAMPLES, loaded
from report_helpers import hostile_log
from stallscope.cli import app
from stallscope.render import json_report

SCHEMA = json.loads((ROOT / "schema" / "analyze.schema.json").read_text())
LOGS = sorted(str(p.relative_to(DATA)) for p in DATA.rglob("*.log"))


def _validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(SCHEMA)
    return Draft202012Validator(SCHEMA)


def _errors(document: object) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in _validator().iter_errors(document)]


@pytest.mark.parametrize("relative", LOGS)
def test_every_corpus_log_validates(relative: str) -> None:
    capture, findings = loaded(relative)
    document = json.loads(json_report.render(capture, list(findings)))
    assert _errors(document) == []


def test_cli_output_with_several_inputs_and_hostile_names_validates(tmp_path: Path) -> None:
    logs = [str(hostile_log(tmp_path)), str(SAMPLES / "doc-too-many-isolated-kswapd-xfs-buf-lock.log")]
    result = CliRunner().invoke(app, ["analyze", "--format", "json", *logs])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert len(document["inputs"]) == 2 and document["findings"]
    assert _errors(document) == []


def test_schema_rejects_what_breaks_the_contract() -> None:
    capture, findings = loaded("lkml/2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log")
    good = json.loads(json_report.render(capture, list(findings)))
    assert good["findings"] and good["findings"][0]["evidence"]
    broken: list[tuple[str, object]] = []
    for what, edit in [
        ("unknown severity", lambda d: d["findings"][0].__setitem__("severity", "fatal")),
        ("evidence without line", lambda d: d["findings"][0]["evidence"][0].pop("line")),
        ("line as text", lambda d: d["findings"][0]["evidence"][0].__setitem__("line", "12")),
        ("missing verdict", lambda d: d.pop("verdict")),
        ("unknown top-level key", lambda d: d.__setitem__("extra", 1)),
        ("negative count", lambda d: d["summary"].__setitem__("tasks", -1)),
        ("schema version", lambda d: d.__setitem__("schema_version", 2)),
    ]:
        document = copy.deepcopy(good)
        edit(document)
        broken.append((what, document))
    for what, document in broken:
        assert _errors(document), what


@pytest.mark.parametrize("relative", [
    "lkml/2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log",
    "wild/2015-11-12_real-rsnapshot-xfs-md-server-4-1-2-free-below-min-finite-stalls-vmstat-pending.log",
])
def test_json_written_in_pieces_is_the_document_dumped_at_once(relative: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`analyze --format json` writes the report as it is encoded: the pieces joined are the
    document json.dumps would give, whatever the size of a piece."""
    capture, findings = loaded(relative)
    document = json_report.report(capture, list(findings))
    whole = json.dumps(document, indent=2, ensure_ascii=True, allow_nan=False)
    assert json_report.render(capture, list(findings)) == whole
    monkeypatch.setattr(json_report, "_WRITE_CHARS", 100)
    pieces = list(json_report.pieces(document))
    # Written as it goes, not held whole: a piece at least per finding.
    assert len(pieces) > len(document["findings"]) > 1
    assert "".join(pieces) == whole
    # The command's document leaves its findings to the encoder, each a dict as it is written.
    streamed = json_report.report(capture, list(findings), streamed=True)
    assert streamed["findings"] and not isinstance(streamed["findings"][0], dict)
    assert "".join(json_report.pieces(streamed)) == whole


def test_the_encoder_writes_what_json_dumps_writes() -> None:
    """Every kind of value a report can hold, written as json.dumps(indent=2, ensure_ascii=True,
    allow_nan=False) writes it; what it refuses, refused the same way."""
    document = {
        "text": "caf\u00e9 \"quoted\"\n\ttab \x00 \u2028", "empty_list": [], "empty_dict": {}, "none": None,
        "flags": [True, False, None], "numbers": [0, -7, 2**70, 1.5, -0.0, 1e300, 123456789.125],
        "tuple": (1, "two", (3.0, [])), "nested": [{"a": [{}], "b": {"c": [[], [1]]}}, []],
        "keys": {1: "int", 2.5: "float", False: "false", None: "null", "s": "str"},
        "big": [{"line": n, "text": f"[{n}.000000] line"} for n in range(3)],
    }
    assert "".join(json_report.pieces(document)) == json.dumps(document, indent=2, ensure_ascii=True,
                                                               allow_nan=False)
    assert "".join(json_report.pieces({})) == json.dumps({}, indent=2)
    for bad in (float("nan"), float("inf"), {"k": -float("inf")}, object(), {(1, 2): 3}):
        with pytest.raises((ValueError, TypeError)) as ours:
            "".join(json_report.pieces({"bad": bad}))
        with pytest.raises((ValueError, TypeError)) as theirs:
            json.dumps({"bad": bad}, indent=2, allow_nan=False)
        assert ours.type is theirs.type
