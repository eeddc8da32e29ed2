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
    """A command-line value: a Python literal (``1e-3``, ``[0, 1]``, ``True``) or else a plain string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


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
class ChapterConfig:
    """Base of every chapter's settings. Subclasses are ``@dataclass(frozen=True)``."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {name: {} for name in PRESETS}

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

    def replace(self, **changes: Any) -> ChapterConfig:
        self.check_fields(changes)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
