"""Checkpoints cached by what made them, so every notebook and preset reuses a trained model.

``cached_state(name, spec, train_fn)`` returns the state that ``train_fn()`` would produce: from
``<cache>/checkpoints/<name>-<key>.pt`` when one was saved before, else by calling ``train_fn`` and
saving its result. The key covers everything that changes the weights:

- ``spec``: a JSON-able dict of the config fields the builder reads, seeds, steps, data digests;
- the code: ``code_digest(train_fn)`` hashes the builder's source and, recursively, every
  ``ftscope`` function, class and module it reaches through its globals and closures, and the
  values of the module-level constants it reads (a corpus list, a grammar); ``depends_on`` adds more;
- the versions of torch and of the model library (TransformerLens).

Editing what the builder cannot reach (the book machinery, an analysis) keeps the checkpoint.
A corrupt, truncated or unreadable checkpoint is reported in one line, moved aside and rebuilt.
Two processes asking for the same checkpoint do not both train it: a lock file serialises them,
and the file is written under a unique temporary name, then renamed into place.
With ``FTSCOPE_CACHED_ONLY=1`` a missing checkpoint raises ``NotCached`` instead of being trained.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import inspect
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from types import FunctionType, MethodType, ModuleType
from typing import Any

import torch

from ftscope.paths import Ledger, Project

Code = ModuleType | FunctionType | type
OWN = "ftscope"
PLAIN = (bool, int, float, complex, str, bytes, type(None))
VERSIONED = ("torch", "transformer-lens")
CACHED_ONLY = "FTSCOPE_CACHED_ONLY"


#: what this process did with each checkpoint, by file name: "read" from the cache or "built" (trained and
#: saved). The runner reads it from a notebook's kernel when the notebook ends (``ftscope.book.probe``).
TOUCHED = Ledger()


def _touch(path: Path, how: str) -> None:
    if TOUCHED.get(path.name) != "built":  # a cell built here and read again later was built here
        TOUCHED.note(path.name, how)


class NotCached(RuntimeError):
    """A checkpoint was asked for under ``FTSCOPE_CACHED_ONLY=1`` and is not in the cache."""


def forbid_training(path: Path) -> None:
    """Raise ``NotCached`` for ``path`` when training is forbidden (``FTSCOPE_CACHED_ONLY=1``)."""
    if os.environ.get(CACHED_ONLY, "") not in ("", "0"):
        raise NotCached(f"{path.name} is not in the cache {path.parent} and {CACHED_ONLY} is set: "
                        "run `ftscope sweep` for this chapter first, or run without --cached-only")


def _code_name(obj: Code) -> str:
    return obj.__name__ if isinstance(obj, ModuleType) else f"{obj.__module__}.{obj.__qualname__}"


def _own(obj: Any) -> bool:
    name = obj.__name__ if isinstance(obj, ModuleType) else getattr(obj, "__module__", None) or ""
    return name == OWN or name.startswith(OWN + ".")


def _constant(value: Any) -> str | None:
    """A stable text for a plain module-level constant (numbers, strings, and containers of them)."""
    if isinstance(value, PLAIN):
        return repr(value)
    if isinstance(value, (tuple, list)):
        parts = [_constant(v) for v in value]
        return None if None in parts else f"{type(value).__name__}({', '.join(parts)})"
    if isinstance(value, (set, frozenset)):
        parts = [_constant(v) for v in value]
        return None if None in parts else f"set({', '.join(sorted(parts))})"
    if isinstance(value, Mapping):  # dict, MappingProxyType
        parts = [(_constant(k), _constant(v)) for k, v in value.items()]
        if any(k is None or v is None for k, v in parts):
            return None
        return "dict(" + ", ".join(sorted(f"{k}: {v}" for k, v in parts)) + ")"
    return None


def _source(obj: Any) -> str:
    """The source text of a function, class or module; for code without a file (a dataclass's
    generated ``__init__``, a lambda typed into a kernel), its bytecode, names and constants."""
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        if code is None:
            return f"<no source: {_code_name(obj)}>"
        return repr([(c.co_code.hex(), c.co_names, [_constant(k) or type(k).__name__ for k in c.co_consts
                                                     if not inspect.iscode(k)]) for c in _code_objects(code)])


def _code_objects(code) -> Iterator[Any]:
    yield code
    for const in code.co_consts:
        if inspect.iscode(const):
            yield from _code_objects(const)


def code_parts(*objs: Any) -> list[tuple[str, str]]:
    """``(what, text)`` for each piece of ``ftscope`` code that ``objs`` (functions, closures,
    classes, modules, bound methods, instances of ``ftscope`` classes) can run, and for each
    module-level constant that code reads: what ``code_digest`` hashes."""
    parts: list[tuple[str, str]] = []
    seen: set[int] = set()
    todo = list(objs)
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, MethodType):
            todo += [obj.__func__, obj.__self__]
        elif isinstance(obj, FunctionType):
            if not _own(obj) and obj.__name__ != "<lambda>":
                continue
            parts.append((f"function {_code_name(obj)}", _source(obj)))
            names = {n for c in _code_objects(obj.__code__) for n in c.co_names}
            for n in sorted(names):
                if n in obj.__globals__ and not n.startswith("__"):
                    value = obj.__globals__[n]
                    if (text := _constant(value)) is not None:
                        parts.append((f"constant {obj.__module__}.{n}", text))
                    else:
                        todo.append(value)
            todo += [cell.cell_contents for cell in obj.__closure__ or () if _cell_set(cell)]
            todo += list(obj.__defaults__ or ())
        elif isinstance(obj, type):
            if _own(obj):
                parts.append((f"class {_code_name(obj)}", _source(obj)))
                todo += [v.__func__ if isinstance(v, (classmethod, staticmethod)) else v
                         for v in vars(obj).values() if isinstance(v, (FunctionType, classmethod, staticmethod))]
                todo += [v.fget for v in vars(obj).values() if isinstance(v, property)]
                todo += [b for b in obj.__mro__[1:] if _own(b)]
        elif isinstance(obj, ModuleType):
            if _own(obj):
                parts.append((f"module {obj.__name__}", _source(obj)))
                todo += [v for v in vars(obj).values() if isinstance(v, (ModuleType, FunctionType, type)) and _own(v)]
        elif _own(type(obj)):  # an instance of an ftscope class (a config, a corpus): its class's code
            todo.append(type(obj))
    return sorted(set(parts))


def code_digest(*objs: Any) -> str:
    """A hash of ``code_parts(*objs)``: changes when any code or constant they reach changes."""
    h = hashlib.sha256()
    for what, text in code_parts(*objs):
        h.update(f"{what}\0{text}\0".encode())
    return h.hexdigest()


def _cell_set(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:  # an empty cell (a closure variable assigned later)
        return False
    return True


def library_versions() -> dict[str, str]:
    out = {}
    for dist in VERSIONED:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def spec_hash(spec: dict[str, Any], depends_on: Iterable[Code] = (), train_fn: Callable | None = None) -> str:
    h = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode())
    h.update(json.dumps(library_versions(), sort_keys=True).encode())
    h.update(code_digest(*([train_fn] if train_fn is not None else []), *depends_on).encode())
    return h.hexdigest()[:16]


def checkpoint_path(name: str, spec: dict[str, Any], depends_on: Iterable[Code] = (),
                    project: Project | None = None, train_fn: Callable | None = None) -> Path:
    project = project or Project.here()
    return project.cache / "checkpoints" / f"{name}-{spec_hash(spec, depends_on, train_fn)}.pt"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path``'s ``.lock`` file, held by one process at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def is_locked(path: Path) -> bool:
    """Whether a process holds ``path``'s lock now (``cached_state`` holds it while it builds the checkpoint)."""
    lock = path.with_suffix(".lock")
    if not lock.exists():
        return False
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _load(path: Path, echo: Callable[[str], None]) -> Any | None:
    """The saved state, or None after moving an unreadable file aside (reported in one line)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unreadable file is rebuilt, never a crash
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        os.replace(path, aside)
        echo(f"[checkpoints] {path.name} is unreadable ({type(err).__name__}: {str(err)[:80]}); "
             f"moved to {aside.name}, rebuilding")
        return None


def save_atomic(state: Any, path: Path) -> None:
    """``torch.save`` under a unique temporary name in the same folder, then an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def cached_state(name: str, spec: dict[str, Any], train_fn: Callable[[], dict[str, Any]], *,
                 depends_on: Iterable[Code] = (), project: Project | None = None,
                 echo: Callable[[str], None] = print) -> tuple[dict[str, Any], bool]:
    """``(state, was_cached)``. ``state`` is whatever ``train_fn`` returns (a dict of tensors and
    plain values, e.g. ``{"model": model.state_dict(), "log": log.to_dict()}``)."""
    depends_on = list(depends_on)
    path = checkpoint_path(name, spec, depends_on, project, train_fn)
    with _locked(path):
        if path.exists() and (state := _load(path, echo)) is not None:
            echo(f"[checkpoints] {name}: reusing {path.name}")
            _touch(path, "read")
            return state, True
        forbid_training(path)
        state = train_fn()
        save_atomic(state, path)
        _touch(path, "built")
    _describe(path, name, spec, depends_on)
    return state, False


def _describe(path: Path, name: str, spec: dict[str, Any], depends_on: list) -> None:
    """The ``.json`` beside a checkpoint: its name, spec, library versions and the code it depends on."""
    path.with_suffix(".json").write_text(json.dumps(
        {"name": name, "spec": spec, "versions": library_versions(),
         "depends_on": [_code_name(m) for m in depends_on]}, indent=2, sort_keys=True, default=str))


def load_cached(path: Path, echo: Callable[[str], None] = print) -> Any | None:
    """The state saved at ``path``, or None when there is none (an unreadable file is moved aside)."""
    if not path.exists():
        return None
    with _locked(path):
        state = _load(path, echo) if path.exists() else None
    if state is not None:
        _touch(path, "read")
    return state


def store(path: Path, name: str, spec: dict[str, Any], state: Any) -> None:
    """Save ``state`` at ``path`` (a ``checkpoint_path``) as ``cached_state`` would have."""
    with _locked(path):
        save_atomic(state, path)
        _touch(path, "built")
    _describe(path, name, spec, [])
