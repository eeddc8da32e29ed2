"""Findings and claim rows: what an analysis hands to the prose and to the claims, and the claims as data.

An analysis returns a *findings* record, a frozen dataclass whose fields are its named numbers::

    @dataclass(frozen=True)
    class FlipFindings(Findings):
        t_star: Seeds  # one value per seed; glued as its mean
        undecided: str  # why the flip cannot be read ('' when it can)

``glue(ch, findings)`` glues every field a reader's sentence can hold (a number, a text, a ``Seeds`` as its mean
and range) under the field's own name, and ``Findings.glue_names`` lists those names from the type alone, so a
test checks every glue reference of a notebook without running it. A chapter's claims are ``Row``s, one per claim,
each naming the findings fields it reads; ``record`` turns them into claims with the one claims API.
"""

from __future__ import annotations

import math
import string
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from ftscope.book.claims import Criterion, Value


@dataclass(frozen=True)
class Seeds:
    """One value per seed: what a claim judges (their mean, their spread, how many meet its criterion).
    Formatted, it lists every seed's value (``f"{s:.2f}"`` → ``"0.31, 0.42"``); ``s.mean`` is their mean."""

    values: tuple

    def __post_init__(self) -> None:
        plain = tuple(v.item() if hasattr(v, "item") else v for v in self.values)
        if not plain:
            raise ValueError("Seeds needs at least one seed's value")
        object.__setattr__(self, "values", plain)

    def __iter__(self) -> Iterator:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, i: int):
        return self.values[i]

    def __format__(self, spec: str) -> str:
        return ", ".join(format(v, spec) for v in self.values)

    def _finite(self) -> list[float]:
        return [float(v) for v in self.values if math.isfinite(float(v))]

    @property
    def mean(self) -> float:
        """The mean over the seeds that have a value (NaN where none has)."""
        finite = self._finite()
        return math.fsum(finite) / len(finite) if finite else float("nan")

    @property
    def lo(self) -> float:
        finite = self._finite()
        return min(finite) if finite else float("nan")

    @property
    def hi(self) -> float:
        finite = self._finite()
        return max(finite) if finite else float("nan")


def seeds(values: Iterable) -> Seeds:
    return Seeds(tuple(values))


GLUED_TYPES = (int, float, str, bool, Seeds)


def _glued_type(hint: Any) -> bool:
    """Whether a field of type ``hint`` is glued: a number, a text, ``Seeds``, or an optional one of them."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else ()
    options = [a for a in args if a is not type(None)] or [hint]
    return all(isinstance(a, type) and issubclass(a, GLUED_TYPES) for a in options)


class Findings:
    """Base of a findings record (subclasses are frozen dataclasses). Glued: each number or text field under
    its name, each ``Seeds`` field as its mean under its name and as its range under ``{name}_min`` and
    ``{name}_max``; other fields (tables, tensors) are not glued."""

    @classmethod
    def _glued_fields(cls) -> list[tuple[str, bool]]:
        """``(name, is Seeds)`` of every glued field."""
        hints = typing.get_type_hints(cls)
        return [(f.name, hints[f.name] is Seeds) for f in fields(cls) if _glued_type(hints[f.name])]

    @classmethod
    def glue_names(cls) -> frozenset[str]:
        """The names ``glue`` glues for any record of this type."""
        return frozenset(name for name, per_seed in cls._glued_fields()
                         for name in ((name, f"{name}_min", f"{name}_max") if per_seed else (name,)))

    def glued(self) -> dict[str, Value]:
        """The glued names and their values."""
        out: dict[str, Value] = {}
        for name, per_seed in self._glued_fields():
            value = getattr(self, name)
            if per_seed:
                out |= {name: value.mean, f"{name}_min": value.lo, f"{name}_max": value.hi}
            else:
                out[name] = value
        return out


def glue(ch, *records: Findings) -> None:
    """Glue every record's ``glued`` values for the chapter's prose (``{glue:text}`name```)."""
    for rec in records:
        for name, value in rec.glued().items():
            ch.glue(name, value)


Source = str | Callable[[Any], Any] | None  # a findings field's name, or a function of the findings


@dataclass(frozen=True)
class Row:
    """One claim as data. ``ours``, ``inconclusive``, ``converged`` and ``chance`` name findings fields (or are
    functions of the findings); ``criterion`` is a ``Criterion`` or a function of the findings that builds one
    (a floor or a control measured in the run); ``note`` is a template of findings fields (``{t_star:.2f}``
    lists a ``Seeds`` per seed, ``{t_star.mean:.2f}`` gives its mean)."""

    id: str
    paper: str
    reference: str
    statement: str
    ours: Source
    criterion: Criterion | Callable[[Any], Criterion]
    basis: str
    paper_value: Value = None
    kind: str = "paper"
    needs: tuple[str, ...] = ()
    inconclusive: Source = None
    converged: Source = None
    chance: Source = None
    note: str = ""

    def fields_read(self) -> set[str]:
        """The findings fields this row names (its functions' reads are not seen)."""
        named = {s for s in (self.ours, self.inconclusive, self.converged, self.chance) if isinstance(s, str)}
        return named | {f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(self.note) if f}


class _View(Mapping):
    """Several findings records read as one namespace (a field name in two of them is an error)."""

    def __init__(self, records: Sequence[Any]):
        self._fields: dict[str, Any] = {}
        for rec in records:
            items = ({f.name: getattr(rec, f.name) for f in fields(rec)} if isinstance(rec, Findings)
                     else dict(rec))
            if twice := set(items) & set(self._fields):
                raise ValueError(f"findings field(s) {sorted(twice)} given twice")
            self._fields.update(items)

    def __getitem__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise KeyError(f"no findings field {name!r} (fields: {', '.join(sorted(self._fields))})") from None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


def _read(source: Source, view: _View) -> Any:
    if source is None:
        return None
    value = view[source] if isinstance(source, str) else source(view)
    return list(value) if isinstance(value, Seeds) else value


def record(ch, rows: Sequence[Row], *findings: Any) -> None:
    """Record every row of ``rows`` as a claim of ``ch`` (``Chapter.claim``), reading ``findings`` (records or
    mappings of named values). Every row is read before the first is recorded, so a row that names a missing
    field records nothing."""
    view = _View(findings)
    claims = []
    for row in rows:
        criterion = row.criterion if isinstance(row.criterion, Criterion) else row.criterion(view)
        claims.append(dict(
            id=row.id, paper=row.paper, reference=row.reference, statement=row.statement,
            paper_value=row.paper_value, ours=_read(row.ours, view), criterion=criterion, basis=row.basis,
            kind=row.kind, needs=list(row.needs), inconclusive=_read(row.inconclusive, view) or "",
            converged=_read(row.converged, view), chance=_read(row.chance, view),
            note=string.Formatter().vformat(row.note, (), view) if row.note else ""))
    for fields_ in claims:
        ch.claim(**fields_)
