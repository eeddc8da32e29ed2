"""Lazy public APIs for the subpackages: ``from ftscope.jain import TracrConfig`` imports
``ftscope.jain.compiled`` only, so a chapter pays for the libraries it uses (tracr's JAX, SAELens)
and the ``ftscope`` command imports no torch."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``exports`` maps a public name to the
    submodule (relative to ``package``) that defines it; a submodule's own name maps to ``""``."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if exports[name] == "":
            return importlib.import_module(f"{package}.{name}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
