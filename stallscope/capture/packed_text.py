"""A line's own text per row, compressed a block of rows at a time (``schema.LINE_TEXT``).

The message of every MemAlloc, MemAlloc-Info and event line is kept as printed: the 1 GB excerpts
family holds 8.4 M task lines (889 MB even in one Arrow buffer, the largest column of any
capture), the 1 GB serial family 5.3 M event lines. Lines of one log differ in a few digits, so
zstd at its fastest level packs a block of 1,024 of them about ten times smaller (bench/README.md,
twenty-sixth round). The rules read a few hundred of them a view (the evidence a finding quotes)
and the texts of a few kinds of event line; a block is unpacked when one of its rows is read, and
the last few unpacked blocks are kept. Event lines are packed with the lines of their kind
(``columns.TextColumn(grouped=True)``): reading every OOM header of a capture unpacks the OOM
headers' blocks, not the Mem-Info lines' between them.

:class:`PackedTextArray` is a pandas extension array, so a table keeps its ``text`` column and
every selection of rows (``iloc``, ``loc``, ``take``, a join of pieces) works as on any column:
a selection shares the blocks and holds only the numbers of the texts it took.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.extensions import ExtensionArray, ExtensionDtype, register_extension_dtype, take

# What the ``.str`` methods of an object column do, for this one too: on the texts unpacked.
from pandas.core.strings.object_array import ObjectStringArrayMixin

BLOCK_ROWS = 1024
_CODEC = pa.Codec("zstd", compression_level=1)
# Blocks unpacked and kept: a rule reading rows near each other unpacks their block once.
_KEPT_BLOCKS = 64


class TextBlock:
    """Up to BLOCK_ROWS texts: their UTF-8 bytes and their offsets, each compressed."""

    __slots__ = ("count", "data", "data_size", "offsets")

    def __init__(self, count: int, data: bytes, data_size: int, offsets: bytes) -> None:
        self.count = count
        self.data = data
        self.data_size = data_size
        self.offsets = offsets

    @classmethod
    def of(cls, texts: pa.Array) -> TextBlock:
        """The block of ``texts``, an Arrow array of large strings without missing values."""
        _, offsets, data = texts.buffers()
        bounds = np.frombuffer(offsets, dtype=np.int64)[texts.offset: texts.offset + len(texts) + 1]
        start, end = int(bounds[0]), int(bounds[-1])
        raw = memoryview(data)[start:end] if data is not None else b""
        return cls(len(texts), _CODEC.compress(raw, asbytes=True), end - start,
                   _CODEC.compress((bounds - start).tobytes(), asbytes=True))

    @property
    def nbytes(self) -> int:
        return len(self.data) + len(self.offsets)

    def __reduce__(self) -> tuple[Any, ...]:
        return TextBlock, (self.count, self.data, self.data_size, self.offsets)

    def unpack(self) -> pa.Array:
        kept = _UNPACKED.get(id(self))
        if kept is not None and kept[0] is self:
            _UNPACKED.move_to_end(id(self))
            return kept[1]
        data = _CODEC.decompress(self.data, decompressed_size=self.data_size)
        offsets = _CODEC.decompress(self.offsets, decompressed_size=8 * (self.count + 1))
        texts = pa.Array.from_buffers(pa.large_string(), self.count, [None, offsets, data])
        _UNPACKED[id(self)] = (self, texts)  # the block itself held too: its id is not reused meanwhile
        if len(_UNPACKED) > _KEPT_BLOCKS:
            _UNPACKED.popitem(last=False)
        return texts


_UNPACKED: OrderedDict[int, tuple[TextBlock, pa.Array]] = OrderedDict()


def pack(texts: Sequence[str] | pa.Array) -> list[TextBlock]:
    """``texts`` (no missing value) in blocks of BLOCK_ROWS."""
    array = texts if isinstance(texts, pa.Array) else pa.array(texts, type=pa.large_string())
    return [TextBlock.of(array.slice(at, BLOCK_ROWS)) for at in range(0, len(array), BLOCK_ROWS)]


# Rows renumbered at once when arrays of texts are joined (see _concat_same_type).
_JOINED_AT_ONCE = 1 << 20


def text_number_dtype(count: int) -> type[np.signedinteger]:
    """What the rows' numbers among ``count`` texts (-1 for none) are held in: 32 bits where they
    fit. A column of texts taken apart from its rows' order (events grouped by kind) holds one
    per row."""
    return np.int32 if count < 1 << 31 else np.int64


@register_extension_dtype
class PackedTextDtype(ExtensionDtype):
    """A text per row, packed in compressed blocks (stallscope.capture.packed_text)."""

    name = "packed_text"
    type = str
    kind = "O"
    na_value = np.nan

    @classmethod
    def construct_array_type(cls) -> type[PackedTextArray]:
        return PackedTextArray


class PackedTextArray(ObjectStringArrayMixin, ExtensionArray):
    """Texts in compressed blocks. Row ``i`` is text number ``rows[i]`` of the blocks in order
    (``rows`` is None when row ``i`` is text ``i``; -1 is a missing text)."""

    _dtype = PackedTextDtype()

    def __init__(self, blocks: Sequence[TextBlock], rows: np.ndarray | None = None,
                 starts: np.ndarray | None = None) -> None:
        self.blocks = tuple(blocks)
        if starts is None:
            starts = np.zeros(len(self.blocks) + 1, dtype=np.int64)
            np.cumsum([block.count for block in self.blocks], out=starts[1:])
        self.starts = starts  # where each block's texts start in the numbering; shared by selections
        self.rows = rows

    def _selected(self, rows: np.ndarray) -> PackedTextArray:
        """The texts numbered ``rows``, sharing this array's blocks (a 1 GB capture has thousands:
        counted again for every selection a rule makes, they cost more than the selection)."""
        return PackedTextArray(self.blocks, rows, self.starts)

    # -- what pandas asks of an extension array --------------------------------------------

    @property
    def dtype(self) -> PackedTextDtype:
        return self._dtype

    def __len__(self) -> int:
        return int(self.starts[-1]) if self.rows is None else len(self.rows)

    @property
    def nbytes(self) -> int:
        return sum(block.nbytes for block in self.blocks) + (0 if self.rows is None else self.rows.nbytes)

    @classmethod
    def _from_sequence(cls, scalars: Any, *, dtype: Any = None, copy: bool = False) -> PackedTextArray:
        values = list(scalars)
        missing = np.fromiter((value is None or value is pd.NA or (isinstance(value, float) and value != value)
                               for value in values), dtype=bool, count=len(values))
        if not missing.any():
            return cls(pack([str(value) for value in values]))
        present = [str(value) for value, absent in zip(values, missing, strict=True) if not absent]
        rows = np.full(len(values), -1, dtype=np.int64)
        rows[~missing] = np.arange(len(present), dtype=np.int64)
        return cls(pack(present), rows)

    @classmethod
    def _from_factorized(cls, values: np.ndarray, original: PackedTextArray) -> PackedTextArray:
        return cls._from_sequence(values)

    @classmethod
    def _from_sequence_of_strings(cls, strings: Any, *, dtype: Any = None, copy: bool = False) -> PackedTextArray:
        return cls._from_sequence(strings)

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, (int, np.integer)):
            at = int(item)
            if at < 0:
                at += len(self)
            if not 0 <= at < len(self):
                raise IndexError(f"index {item} is out of bounds for a text column of {len(self)} rows")
            return self._text(at if self.rows is None else int(self.rows[at]))
        if isinstance(item, slice):
            if self.rows is None:
                return self._selected(np.arange(*item.indices(len(self)), dtype=np.int64))
            return self._selected(self.rows[item].copy())
        item = pd.api.indexers.check_array_indexer(self, item)
        return self._selected(np.asarray(self._positions()[item]))

    def take(self, indices: Any, *, allow_fill: bool = False, fill_value: Any = None) -> PackedTextArray:
        if allow_fill and fill_value is not None and not pd.isna(fill_value):
            raise ValueError("a text column is filled with missing values only")
        rows = take(self._positions(), np.asarray(indices, dtype=np.int64), allow_fill=allow_fill, fill_value=-1)
        return self._selected(np.asarray(rows))  # the numbers' own width (see text_number_dtype)

    def copy(self) -> PackedTextArray:
        return PackedTextArray(self.blocks, None if self.rows is None else self.rows.copy(), self.starts)

    def isna(self) -> np.ndarray:
        return np.zeros(len(self), dtype=bool) if self.rows is None else self.rows < 0

    @classmethod
    def _concat_same_type(cls, to_concat: Sequence[PackedTextArray]) -> PackedTextArray:
        first = to_concat[0]
        if all(array.blocks is first.blocks for array in to_concat[1:]):  # selections of one column
            return first._selected(np.concatenate([array._positions() for array in to_concat]))
        # Each block once, however many of the arrays share it.
        blocks: list[TextBlock] = []
        place: dict[int, int] = {}
        for array in to_concat:
            for block in array.blocks:
                if id(block) not in place:
                    place[id(block)] = len(blocks)
                    blocks.append(block)
        if all(array.rows is None for array in to_concat) and len(blocks) == sum(len(a.blocks) for a in to_concat):
            return cls(blocks)  # the arrays' blocks in order: row i is text i still
        joined = cls(blocks)
        # The joined rows' numbers written into one array of their own width, a part of the rows
        # at a time: the pieces of a 1 GB capture joined with four arrays of 64 bits a row at
        # once were the merge's peak (the excerpts capture's 8.4 M task texts: bench/README.md,
        # thirty-second round).
        joined.rows = np.empty(sum(len(array) for array in to_concat), dtype=text_number_dtype(int(joined.starts[-1])))
        at = 0
        for array in to_concat:
            # How far each of the array's blocks moves in the joined numbering.
            moved = np.array([place[id(block)] for block in array.blocks], dtype=np.int64)
            shift = joined.starts[moved] - array.starts[:-1]
            if array.rows is None:  # text i is row i: each block's rows are a run of numbers
                for block, (start, end) in enumerate(pairwise(array.starts.tolist())):
                    joined.rows[at + start : at + end] = np.arange(start + shift[block], end + shift[block])
            else:
                for start in range(0, len(array.rows), _JOINED_AT_ONCE):
                    rows = array.rows[start : start + _JOINED_AT_ONCE]
                    which = (np.searchsorted(array.starts, rows, side="right") - 1).clip(0)
                    joined.rows[at + start : at + start + len(rows)] = np.where(rows < 0, -1, rows + shift[which])
            at += len(array)
        return joined

    def _values_for_factorize(self) -> tuple[np.ndarray, Any]:
        return self.to_numpy(dtype=object, na_value=None), None

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self.to_numpy(dtype=object)
        return values if dtype is None or np.dtype(dtype) == object else values.astype(dtype)

    def to_numpy(self, dtype: Any = None, copy: bool = False, na_value: Any = np.nan) -> np.ndarray:
        values = np.empty(len(self), dtype=object)
        values[:] = self._texts(self._positions(), na_value)
        return values if dtype is None or np.dtype(dtype) == object else values.astype(dtype)

    def __arrow_array__(self, type: Any = None) -> pa.Array:
        return pa.array(self.to_numpy(na_value=None), type=pa.large_string() if type is None else type)

    def tolist(self) -> list[Any]:
        return self._texts(self._positions())

    def __iter__(self) -> Iterator[Any]:
        positions = self._positions()
        for at in range(0, len(positions), 64 * BLOCK_ROWS):
            yield from self._texts(positions[at: at + 64 * BLOCK_ROWS])

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        if isinstance(other, (pd.Series, pd.Index, pd.DataFrame)):
            return NotImplemented
        theirs = other.to_numpy(dtype=object) if isinstance(other, ExtensionArray) else other
        return np.asarray(self.to_numpy(dtype=object) == theirs, dtype=bool)

    def astype(self, dtype: Any, copy: bool = True) -> Any:
        dtype = pd.api.types.pandas_dtype(dtype)  # "str" is pandas' string dtype, as for a Series
        if isinstance(dtype, PackedTextDtype):
            return self.copy() if copy else self
        if isinstance(dtype, ExtensionDtype):
            return dtype.construct_array_type()._from_sequence(self.to_numpy(na_value=None), dtype=dtype)
        return self.to_numpy(dtype=object).astype(dtype, copy=False)

    def __reduce__(self) -> tuple[Any, ...]:
        return PackedTextArray, (self.blocks, self.rows, self.starts)

    # -- texts ------------------------------------------------------------------------------

    def _positions(self) -> np.ndarray:
        return np.arange(len(self), dtype=np.int64) if self.rows is None else self.rows

    def _text(self, number: int) -> Any:
        """Text number ``number`` (a cell read: a rule's evidence, a few hundred a view)."""
        if number < 0:
            return np.nan
        block = int(self.starts.searchsorted(number, side="right")) - 1
        return self.blocks[block].unpack()[number - int(self.starts[block])].as_py()

    def _texts(self, rows: np.ndarray, na_value: Any = np.nan) -> list[Any]:
        """The texts numbered ``rows`` (-1: ``na_value``), unpacking each block they are in once."""
        if not len(rows):
            return []
        which = np.searchsorted(self.starts, rows, side="right") - 1
        if which[0] >= 0 and bool((which[1:] >= which[:-1]).all()):
            # Rows in the order of their blocks (a selection in log order, the usual one): each
            # block's texts appended in turn.
            texts: list[Any] = []
            bounds = [0, *(np.flatnonzero(np.diff(which)) + 1).tolist(), len(rows)]
            for begin, end in pairwise(bounds):
                block = int(which[begin])
                unpacked = self.blocks[block].unpack()
                numbers = rows[begin:end] - self.starts[block]
                whole = end - begin == len(unpacked) and bool((numbers == np.arange(len(unpacked))).all())
                texts += (unpacked if whole else unpacked.take(pa.array(numbers))).to_pylist()
            return texts
        out: list[Any] = [na_value] * len(rows)
        order = np.argsort(which, kind="stable")
        sorted_which = which[order]
        bounds = np.flatnonzero(np.diff(sorted_which)) + 1
        for group in np.split(order, bounds):
            block = int(which[group[0]])
            if rows[group[0]] < 0:
                continue
            found = self.blocks[block].unpack().take(pa.array(rows[group] - self.starts[block])).to_pylist()
            for at, text in zip(group.tolist(), found, strict=True):
                out[at] = text
        return out

    def with_texts(self, changed: dict[int, str]) -> PackedTextArray:
        """This array (row i is text i) with the rows of ``changed`` written again: the blocks
        they are in packed anew."""
        if not changed:
            return self
        blocks = list(self.blocks)
        for block in sorted({int(np.searchsorted(self.starts, row, side="right") - 1) for row in changed}):
            texts = blocks[block].unpack().to_pylist()
            for row in range(int(self.starts[block]), int(self.starts[block + 1])):
                if row in changed:
                    texts[row - int(self.starts[block])] = changed[row]
            blocks[block] = TextBlock.of(pa.array(texts, type=pa.large_string()))
        return PackedTextArray(blocks, self.rows)
