"""One config system for every chapter: typed dataclasses with three named presets.

A chapter's settings are a frozen dataclass whose field defaults are the paper's values;
``PRESETS`` maps each preset name to the fields it changes (minGPT style)::

    @dataclass(frozen=True)
    class CounterConfig(ChapterConfig):
        steps: int = 10_000
        lr: float = 1e-2
        PRESETS: ClassVar = {"smoke": dict(steps=20), "laptop": dict(steps=500), "paper": {}}

    cfg = CounterConfig.from_preset("laptop", lr=1e-3)   # a single field overridden

Every bad name fails at once, naming the valid choices: an unknown preset, device or
field, or a value of the wrong type. Derived values are properties, never fields.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Union

PRESETS = ("smoke", "laptop", "paper")
DEVICES = ("auto", "cpu", "cuda")


class ConfigError(ValueError):
    """A preset, device, field or value that does not exist; the message names the valid ones."""


def check_choice(kind: str, value: Any, choices: typing.Iterable[Any]) -> Any:
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(f"unknown {kind} {value!r}; valid choices: {', '.join(map(repr, choices))}")
    return value


def check_preset(preset: str) -> str:
    return check_choice("preset", preset, PRESETS)


def check_device(device: str) -> str:
    return check_choice("device", device, DEVICES)


def resolve_device(device: str):
    """``auto`` → CUDA when available, else CPU. Asking for ``cuda`` without one is an error."""
    import torch

    check_device(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but torch sees no CUDA device; use 'cpu' or 'auto'")
    return torch.device(device)


def parse_value(text: str) -> Any:
    """A command-line value: a Python literal (``1e-3``, ``[0, 1]``, ``True``), or a bare word (``hub``,
    ``table3``) as a plain string. Anything else (``[1,2``, ``1e-``) is an error, never a silent string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if re.fullmatch(r"[A-Za-z_][\w\-]*", text):
            return text
        raise ConfigError(f"{text!r} is neither a Python literal (1e-3, [0, 1], True, 'text') nor a bare word") from None


def parse_assignments(items: typing.Iterable[str]) -> dict[str, Any]:
    """``["lr=1e-3", "steps=20"]`` → ``{"lr": 0.001, "steps": 20}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"expected FIELD=VALUE, got {item!r}")
        out[key.strip()] = parse_value(value.strip())
    return out


def _coerce(name: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the annotation ``tp``; widen int→float and list→tuple."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return check_choice(f"value for {name}", value, args)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(name, value, arg)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{name}={value!r} fits none of {tp}: {'; '.join(errors)}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be a sequence, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(name, v, args[0]) for v in value)
        if args and len(args) != len(value):
            raise ConfigError(f"{name} needs {len(args)} items, got {len(value)}")
        return tuple(_coerce(name, v, a) for v, a in zip(value, args)) if args else tuple(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be True or False, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an int, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {value!r}")
        return value
    return value


@dataclass(frozen=True)
class Range:
    """A range every config field of a kind must lie in, the kind told by the field's name (``RULES``)."""

    kind: str
    pattern: str  # a regular expression the field's name matches
    low: float
    high: float | None = None  # None: unbounded
    low_open: bool = False  # low itself excluded (learning rates)

    def applies(self, name: str, value: Any) -> bool:
        return re.search(self.pattern, name) is not None and _numbers(value) is not None

    def check(self, name: str, value: Any, zero_ok: bool = False) -> None:
        low = 0 if zero_ok and self.low == 1 else self.low
        for v in _numbers(value) or ():
            if v < low or (self.low_open and v == low) or (self.high is not None and v > self.high):
                high = "" if self.high is None else f" and at most {self.high}"
                raise ConfigError(f"{name}={value!r}: {self.kind} must be {'above' if self.low_open else 'at least'} "
                                  f"{low}{high}")


def _numbers(value: Any) -> tuple[float, ...] | None:
    """The numbers of an int or float field, or of a tuple of them; None for anything else."""
    items = value if isinstance(value, tuple) else (value,)
    if items and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
        return tuple(items)
    return None


#: the ranges every chapter's settings are checked against, by the field's name. A count of steps, seeds or
#: examples is at least 1 (0 only where the config names it in ``ZERO_MEANS_DERIVED``), a seed fits numpy's
#: 32 bits, a share or probability lies in [0, 1], a learning rate is positive, and no count is negative.
RULES = (
    Range("a step count", r"(^|_)steps$", 1),
    Range("a seed", r"(^|_)seed$", 0, 2**32 - 1),
    Range("a number of seeds", r"(^|_)seeds$", 1),
    Range("a batch size", r"(^|_)batch(_tokens)?$", 1),
    Range("a share", r"(share|fraction|_level|warmup_cap)$|^p_|(^|_)c_trs$|^mixes$|_ts$|^momentum$", 0, 1),
    Range("a learning rate", r"(^|_)lrs?$|^lr_grid$", 0, low_open=True),
    Range("a count", r"^(n_|num_)|_(docs|samples|evals|chars|probes|tokens|blocks|stories)$", 0),
)


@dataclass(frozen=True)
class ChapterConfig:
    """Base of every chapter's settings. Subclasses are ``@dataclass(frozen=True)``."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {name: {} for name in PRESETS}
    #: count fields (``*_steps``, ``*_chars``) where 0 means "derive it" (one epoch, the whole corpus)
    ZERO_MEANS_DERIVED: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def check_fields(cls, names: typing.Iterable[str]) -> None:
        valid = cls.field_names()
        for name in names:
            check_choice(f"field of {cls.__name__}", name, valid)

    @classmethod
    def from_preset(cls, preset: str, **overrides: Any) -> ChapterConfig:
        """The preset's values, then ``overrides`` on top; every name and type checked."""
        check_preset(preset)
        missing = [p for p in PRESETS if p not in cls.PRESETS]
        if missing:
            raise TypeError(f"{cls.__name__}.PRESETS lacks presets {missing}")
        cls.check_fields(cls.PRESETS[preset])
        cls.check_fields(overrides)
        return cls(**{**cls.PRESETS[preset], **overrides})

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _coerce(f.name, getattr(self, f.name), hints[f.name])
            object.__setattr__(self, f.name, value)
            for rule in RULES:
                if rule.applies(f.name, value):
                    rule.check(f.name, value, zero_ok=f.name in self.ZERO_MEANS_DERIVED)

    def replace(self, **changes: Any) -> ChapterConfig:
        self.check_fields(changes)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
