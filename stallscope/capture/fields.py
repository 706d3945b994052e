"""An event line's fields as the events table holds them: a read-only mapping of field name to
the text printed, whose names are shared by every line of the same field names.

A real capture prints each Mem-Info dump and OOM task table with other numbers, so nearly every
such line is a row value of its own. A dict per line kept its own table of names and hashes (234
bytes on average for the 97,822 distinct event lines of the serial family's 100 MB); ``Fields``
keeps a tuple of the values and one index of the names per set of names (bench/README.md,
twentieth round). It reads as a dict does (``get``, ``[]``, ``in``, iteration, equality with a
dict); it is not one, so a test for "a line's fields" is :func:`is_fields`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

# Field names -> the position of each name's value: one per set of names a line may have.
NameIndex = dict[str, int]


class Fields(Mapping[str, str]):
    __slots__ = ("_index", "_values")

    def __init__(self, index: NameIndex, values: tuple[str, ...]) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, name: str) -> str:
        return self._values[self._index[name]]

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        at = self._index.get(name)
        return default if at is None else self._values[at]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return repr(dict(self.items()))

    def __reduce__(self) -> tuple[type[Fields], tuple[NameIndex, tuple[str, ...]]]:
        # The index is one object for many lines: pickle writes it once per stream.
        return (Fields, (self._index, self._values))


def compact(fields: Mapping[str, str], indexes: dict[tuple[str, ...], NameIndex],
            share: Callable[[str, str], str] | None = None) -> Fields:
    """``fields`` as a Fields, its index of names taken from (or added to) ``indexes``; each
    value replaced by ``share(value, value)`` (a table's ``setdefault``: one string per value)."""
    names = tuple(fields)
    index = indexes.get(names)
    if index is None:
        index = indexes[names] = {name: at for at, name in enumerate(names)}
    values = fields.values()
    return Fields(index, tuple(values) if share is None else tuple(map(share, values, values)))


def is_fields(value: object) -> bool:
    """Whether ``value`` is a line's fields (a Fields, or a dict as a test or an older capture
    has them) rather than a missing cell: asked per row, so not ``isinstance(value, Mapping)``,
    which goes through the ABC's machinery (several times a dict's own test)."""
    return value.__class__ is Fields or isinstance(value, dict)


def values_of(fields: Mapping[str, str], names: tuple[str, ...]) -> tuple[str | None, ...]:
    """The values of ``names`` in a line's fields (None for each it lacks), in one call: a rule
    that reads several fields of hundreds of thousands of lines (every Mem-Info zone line) pays
    for each ``get`` a Python call of its own."""
    if fields.__class__ is Fields:
        index, values = fields._index, fields._values  # type: ignore[attr-defined]
        return tuple([values[index[name]] if name in index else None for name in names])
    return tuple([fields.get(name) for name in names])
