"""Write a capture's tables to files for notebooks and other tools (schema in schema/export.md).

One file per table (``snapshots``, ``tasks``, ``frames``, ``traces``, and ``events`` when the
capture has any) plus ``manifest.json``: the stallscope version, the command, each input's
size and SHA-256, and every table's file, row count and column dtypes. Each row's id (the index
other tables refer to: ``tasks.snapshot``, ``traces.task``, ...) is written as its first column.

Parquet (through pyarrow) keeps pandas dtypes by itself. CSV cannot, so :func:`read` gives the
manifest's dtypes back to ``pandas.read_csv``; only an empty string and a missing value, which
CSV writes alike, come back as missing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import Enum
from pathlib import Path

import pandas as pd

from stallscope import __version__
from stallscope.capture.fields import is_fields
from stallscope.capture.model import Capture
from stallscope.capture.packed_text import PackedTextDtype
from stallscope.capture.schema import INT
from stallscope.capture.schema import TABLES as SCHEMA
from stallscope.outputs import write_all
from stallscope.render.provenance import Provenance

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
# Table name -> the name of its row id column (None: the table has no id of its own).
TABLES: dict[str, str | None] = {name: table.id for name, table in SCHEMA.items()}


class ExportFormat(str, Enum):
    parquet = "parquet"
    csv = "csv"


def _json_cell(value: object) -> object:
    if is_fields(value):  # a class check per cell (isinstance of the Mapping ABC: 3-5x its cost)
        return json.dumps(dict(value), sort_keys=True, ensure_ascii=False)
    return None if value is None or (isinstance(value, float) and value != value) else value


def _category(values: pd.Series) -> pd.Series:
    """A categorical column with string categories in sorted order and none unused.

    That is what a CSV reader infers and what Parquet keeps, so a table reads back with the
    dtype it was written with (the capture's own categories are in order of first appearance).
    """
    present = values.dropna().astype(str)
    dtype = pd.CategoricalDtype(pd.Index(sorted(set(present)), dtype="str"))
    return pd.Series(pd.Categorical(values.astype(object).where(values.notna(), None), dtype=dtype),
                     index=values.index, name=values.name)


def _portable(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    wide = {c.name for c in SCHEMA[table].columns if c.dtype == INT}
    for column in frame.columns:
        if column in wide and str(frame[column].dtype) != INT:
            # Held as Int32 where every number fits (schema.INT); written as the schema's dtype,
            # so that a file's column types do not depend on the numbers in it.
            frame[column] = frame[column].astype(INT)
        elif isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = _category(frame[column])
        elif isinstance(frame[column].dtype, PackedTextDtype):
            # Packed in memory only: written and read back as pandas' string dtype.
            frame[column] = frame[column].astype("str")
    return frame


def tables(capture: Capture) -> dict[str, pd.DataFrame]:
    """The tables as they are written: ids as first column, ``events.fields`` as a JSON object text."""
    out: dict[str, pd.DataFrame] = {}
    for name, id_column in TABLES.items():
        frame: pd.DataFrame = getattr(capture, name)
        if name == "events" and frame.empty:
            continue
        frame = frame.copy()
        if id_column is not None:
            frame = frame.rename_axis(id_column).reset_index()
            frame[id_column] = frame[id_column].astype("int64")
        else:
            frame = frame.reset_index(drop=True)
        if "fields" in frame.columns:
            # A dict per row has no portable column type; its JSON text reads back anywhere.
            frame["fields"] = pd.Series([_json_cell(v) for v in frame["fields"]], dtype=object, index=frame.index)
        out[name] = _portable(frame, name)
    return out


def _dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {str(column): str(dtype) for column, dtype in frame.dtypes.items()}


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError as error:  # a broken install rather than a user error: say what is missing
        raise RuntimeError("Parquet export needs the 'pyarrow' package (pip install pyarrow)") from error


def write(
    capture: Capture,
    directory: str | Path,
    fmt: ExportFormat | str = ExportFormat.parquet,
    origin: Provenance | None = None,
) -> list[Path]:
    """Write every table and the manifest into ``directory`` (created if needed); the paths written.

    The files appear together when all are complete (the manifest last), or not at all.
    """
    fmt = ExportFormat(fmt)
    if fmt is ExportFormat.parquet:
        _require_pyarrow()
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, object] = {
        "manifest_version": MANIFEST_VERSION,
        "stallscope": __version__,
        "format": fmt.value,
        "command": origin.command if origin else None,
        "inputs": [i.as_dict() for i in origin.inputs] if origin else [i.as_dict() for i in capture.inputs],
        "tables": {},
    }
    if fmt is ExportFormat.csv:
        manifest["csv_formula_escape"] = CSV_ESCAPE_NOTE
    frames = tables(capture)
    targets = [target / f"{name}.{fmt.value}" for name in frames] + [target / MANIFEST]

    def fill(paths: list[Path]) -> None:
        for (name, frame), path, final in zip(frames.items(), paths, targets, strict=False):
            if fmt is ExportFormat.parquet:
                frame.to_parquet(path, engine="pyarrow", index=False)
            else:
                neutralised(frame).to_csv(path, index=False)
            manifest["tables"][name] = {  # type: ignore[index]
                "file": final.name,
                "rows": len(frame),
                "id": TABLES[name],
                "dtypes": _dtypes(frame),
            }
        paths[-1].write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    write_all(targets, fill)
    return targets


# A spreadsheet opening a CSV file runs a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_ESCAPE_NOTE = ("text cells starting with = + - @ TAB or CR (and cells that are such a cell behind "
                   "leading ' quotes) carry one more leading ' (OWASP CSV injection); read() removes it")


def _escaped(text: str) -> bool:
    """Whether a cell's text gets (or, read back, has) the one leading quote."""
    return text.lstrip("'").startswith(_FORMULA_START)


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell that a spreadsheet would run as a formula quoted with a
    leading ``'``, as OWASP recommends; a cell that already starts with quotes before such a
    character gets one more, so that :func:`read_table` can give back every text exactly."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            out[column] = values.cat.rename_categories(
                [f"'{c}" if _escaped(str(c)) else c for c in values.cat.categories])
        elif values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            out[column] = values.map(lambda v: f"'{v}" if isinstance(v, str) and _escaped(v) else v)
    return out


def _restored(values: pd.Series) -> pd.Series:
    return values.map(lambda v: v[1:] if isinstance(v, str) and v.startswith("'") and _escaped(v[1:]) else v)


def read_table(directory: str | Path, name: str) -> pd.DataFrame:
    """One exported table back into pandas with the dtypes it was written with."""
    target = Path(directory)
    manifest = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    entry = manifest["tables"][name]
    path = target / entry["file"]
    dtypes: dict[str, str] = entry["dtypes"]
    if manifest["format"] == ExportFormat.parquet.value:
        frame = pd.read_parquet(path, engine="pyarrow")
    else:
        # Only an empty field is missing: a task may well be called "NA" or "null".
        frame = pd.read_csv(path, dtype={c: ("object" if d == "category" else d) for c, d in dtypes.items()},
                            keep_default_na=False, na_values=[""])
        for column, dtype in dtypes.items():
            if dtype in ("category", "object", "str", "string"):
                frame[column] = _restored(frame[column])
    # A column with no value at all carries no type in either format: give it back its own.
    for column, dtype in dtypes.items():
        if dtype == "category":
            frame[column] = _category(frame[column])
        elif str(frame[column].dtype) != dtype:
            frame[column] = frame[column].astype(dtype)
    return frame


def read(directory: str | Path, names: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """Every exported table (or those named), keyed by table name."""
    manifest = json.loads((Path(directory) / MANIFEST).read_text(encoding="utf-8"))
    return {name: read_table(directory, name) for name in (names or manifest["tables"])}
