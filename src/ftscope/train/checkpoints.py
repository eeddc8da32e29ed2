"""Checkpoints cached by what made them, so every notebook and preset reuses a trained model.

``cached_state(name, spec, train_fn, depends_on=...)`` returns the state dict that
``train_fn()`` would produce for ``spec``: from ``<cache>/checkpoints/<name>-<hash>.pt`` when
one was saved before, else by calling ``train_fn`` and saving its result. The hash covers the
``spec`` (a JSON-able dict: config, seed, steps, ...) and the source of the modules and
functions named in ``depends_on`` (the code that trains the model), but not the rest of
``ftscope``: editing the book machinery or an analysis does not throw away a pretraining run.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

import torch

from ftscope.paths import Project

Code = ModuleType | FunctionType | type


def _code_name(obj: Code) -> str:
    return obj.__name__ if isinstance(obj, ModuleType) else f"{obj.__module__}.{obj.__qualname__}"


def spec_hash(spec: dict[str, Any], depends_on: Iterable[Code] = ()) -> str:
    h = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode())
    for obj in sorted(depends_on, key=_code_name):
        h.update(_code_name(obj).encode() + b"\0" + inspect.getsource(obj).encode())
    return h.hexdigest()[:16]


def checkpoint_path(name: str, spec: dict[str, Any], depends_on: Iterable[Code] = (),
                    project: Project | None = None) -> Path:
    project = project or Project.here()
    return project.cache / "checkpoints" / f"{name}-{spec_hash(spec, depends_on)}.pt"


def cached_state(name: str, spec: dict[str, Any], train_fn: Callable[[], dict[str, Any]], *,
                 depends_on: Iterable[Code] = (), project: Project | None = None,
                 echo: Callable[[str], None] = print) -> tuple[dict[str, Any], bool]:
    """``(state, was_cached)``. ``state`` is whatever ``train_fn`` returns (a dict of tensors and
    plain values, e.g. ``{"model": model.state_dict(), "log": log.to_dict()}``)."""
    depends_on = list(depends_on)
    path = checkpoint_path(name, spec, depends_on, project)
    if path.exists():
        echo(f"[checkpoints] {name}: reusing {path.name}")
        return torch.load(path, map_location="cpu", weights_only=False), True
    state = train_fn()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # atomic: an interrupted run leaves no half-written checkpoint
    path.with_suffix(".json").write_text(json.dumps({"name": name, "spec": spec,
                                                     "depends_on": [_code_name(m) for m in depends_on]},
                                                    indent=2, sort_keys=True, default=str))
    return state, False
