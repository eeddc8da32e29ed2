"""Checkpoints cached by what made them, so every notebook and preset reuses a trained model.

``cached_state(name, spec, train_fn)`` returns the state that ``train_fn()`` would produce: from
``<cache>/checkpoints/<name>-<key>.pt`` when one was saved before, else by calling ``train_fn`` and
saving its result. The key covers everything that changes the weights:

- ``spec``: a JSON-able dict of the config fields the builder reads, seeds, steps, data digests;
- the code: ``code_digest(train_fn)`` hashes the builder's source and, recursively, every
  ``ftscope`` function, class and module it reaches through its globals and closures, and the
  values of the module-level constants it reads (a corpus list, a grammar); ``depends_on`` adds more;
- the versions of torch and of the model library (TransformerLens).

Editing what the builder cannot reach (the book machinery, an analysis) keeps the checkpoint, and so does
editing the cache's own machinery (``WEIGHT_NEUTRAL``: this module, ``train.cells``, ``paths``), which moves
files and never changes a weight.

Every checkpoint is verified when it is read: the ``.json`` beside it, written with it, records its SHA-256 and
whether its tensors were finite. A file whose hash differs (flipped bytes, a tensor overwritten in place), one
with non-finite tensors where the builder saved finite ones, one without a recorded checksum, or one that does
not load, is reported in one line, moved aside and rebuilt; it is never trusted.
Two processes asking for the same checkpoint do not both train it: a lock file serialises them, and the file
is written under a unique temporary name, then renamed into place. A cache that cannot be written (a published
cache, a read-only mount) is read as it is; training into it raises ``ReadOnlyCache`` naming ``FTSCOPE_CACHE``.
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

from ftscope.paths import Ledger, Project, make_plain, sha256_file, write_atomic

Code = ModuleType | FunctionType | type
OWN = "ftscope"
#: the cache's own machinery: it stores and finds states, and no weight depends on its code, so a builder that
#: reaches it (a fine-tune reading its base's cell) does not carry it into its key
WEIGHT_NEUTRAL = ("ftscope.paths", "ftscope.train.checkpoints", "ftscope.train.cells")
PLAIN = (bool, int, float, complex, str, bytes, type(None))
VERSIONED = ("torch", "transformer-lens")
CACHED_ONLY = "FTSCOPE_CACHED_ONLY"


#: what this process did with each checkpoint, by file name: "read" from the cache or "built" (trained and
#: saved). The runner reads it from a notebook's kernel when the notebook ends (``ftscope.book.probe``).
TOUCHED = Ledger()


EVENTS = "FTSCOPE_EVENTS"


def _touch(path: Path, how: str, why: str = "") -> None:
    """Note what this process did with a checkpoint: "read", "built", "moved aside" (damaged) and then
    "rebuilt". A checkpoint built here and read again later was built here. Under the runner each event is
    also one line appended to the file ``$FTSCOPE_EVENTS``, which it prints as the notebook runs."""
    if events := os.environ.get(EVENTS):
        with contextlib.suppress(OSError), open(events, "a") as f:
            f.write(f"{how} {path.name}{f' ({why})' if why else ''}\n")
    old = TOUCHED.get(path.name)
    if old in ("built", "rebuilt"):
        return
    TOUCHED.note(path.name, "rebuilt" if how == "built" and old == "moved aside" else how)


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
    """Whether ``obj`` is ``ftscope`` code that can change a weight (the cache's machinery cannot)."""
    name = obj.__name__ if isinstance(obj, ModuleType) else getattr(obj, "__module__", None) or ""
    return (name == OWN or name.startswith(OWN + ".")) and name not in WEIGHT_NEUTRAL


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


class ReadOnlyCache(RuntimeError):
    """A checkpoint must be trained, and the cache it would be written to cannot be written."""


@contextlib.contextmanager
def _locked(path: Path, to_write: bool = True) -> Iterator[None]:
    """An exclusive lock on ``path``'s ``.lock`` file, held by one process at a time. A cache that cannot be
    written (a published cache, a read-only mount) is read without the lock (nothing can change it under us);
    a write there raises ``ReadOnlyCache``, naming ``FTSCOPE_CACHE``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.with_suffix(".lock"), "a")  # noqa: SIM115 - closed below
    except OSError as err:
        if to_write:
            raise ReadOnlyCache(f"{path.name} must be trained, but the cache {path.parent} cannot be written "
                                f"({err.strerror}): set FTSCOPE_CACHE to a folder you can write, or run with a "
                                "cache that holds this checkpoint") from None
        yield
        return
    with handle:
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
    try:
        handle = open(lock, "a")  # noqa: SIM115 - closed below
    except OSError:  # a read-only cache: nobody builds there
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _tensors(state: Any) -> Iterator[torch.Tensor]:
    if isinstance(state, torch.Tensor):
        yield state
    elif isinstance(state, Mapping):
        for v in state.values():
            yield from _tensors(v)
    elif isinstance(state, (list, tuple)):
        for v in state:
            yield from _tensors(v)


def all_finite(state: Any) -> bool:
    """Whether every floating-point tensor in ``state`` (nested dicts, lists) is finite."""
    return all(bool(torch.isfinite(t).all()) for t in _tensors(state) if t.is_floating_point())


def describe_path(path: Path) -> Path:
    """The ``.json`` beside a checkpoint: what made it, its SHA-256 and whether its tensors were finite."""
    return path.with_suffix(".json")


def _damage(path: Path) -> tuple[str, dict]:
    """Why the checkpoint at ``path`` cannot be trusted before it is loaded ('' when it can: its recorded
    checksum matches), and the record beside it."""
    try:
        meta = json.loads(describe_path(path).read_text())
    except (OSError, ValueError):
        return "no readable record of its checksum beside it", {}
    if not isinstance(meta, dict) or "sha256" not in meta:
        return "no recorded checksum", {}
    if sha256_file(path) != meta["sha256"]:
        return "its SHA-256 differs from the one recorded when it was written", meta
    return "", meta


def _aside(path: Path, why: str, echo: Callable[[str], None]) -> None:
    """Move a damaged checkpoint (and its record) aside, saying so in one line; in a cache that cannot be
    written, say so and leave it (it is not used)."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        os.replace(path, aside)
        if describe_path(path).exists():
            os.replace(describe_path(path), describe_path(path).with_name(f"{describe_path(path).name}.corrupt-{stamp}"))
    except OSError:
        echo(f"[checkpoints] {path.name}: {why}; not used (the cache cannot be written, so it stays there)")
        return
    _touch(path, "moved aside", why)
    echo(f"[checkpoints] {path.name}: {why}; moved to {aside.name}, rebuilding")


def _load(path: Path, echo: Callable[[str], None]) -> Any | None:
    """The saved state, verified against the checksum recorded when it was written (and its tensors finite where
    the builder saved finite ones); None after moving a damaged or unreadable file aside (reported in one line),
    so that it is rebuilt, never trusted."""
    try:
        why, meta = _damage(path)
        if not why:
            state = torch.load(path, map_location="cpu", weights_only=False)
            if meta.get("finite") and not all_finite(state):
                why = "non-finite tensors, where the builder saved finite ones"
        if why:
            _aside(path, why, echo)
            return None
        return state
    except Exception as err:  # noqa: BLE001 - any unreadable file is rebuilt, never a crash
        _aside(path, f"unreadable ({type(err).__name__}: {str(err)[:80]})", echo)
        return None


def save_atomic(state: Any, path: Path, describe: dict[str, Any] | None = None) -> None:
    """``torch.save`` under a unique temporary name in the same folder, then an atomic rename. With
    ``describe``, the ``.json`` beside it (written first, also atomically) records it with the file's SHA-256
    and whether its tensors are finite, so that a reader can verify it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(state, tmp)
        make_plain(tmp)
        if describe is not None:
            meta = {**describe, "sha256": sha256_file(tmp), "finite": all_finite(state)}
            write_atomic(describe_path(path), json.dumps(meta, indent=2, sort_keys=True, default=str))
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _description(name: str, spec: dict[str, Any], depends_on: list) -> dict[str, Any]:
    """What the ``.json`` beside a checkpoint says of it: its name, spec, library versions, the code it depends on."""
    return {"name": name, "spec": spec, "versions": library_versions(),
            "depends_on": [_code_name(m) for m in depends_on]}


def _read_existing(path: Path, echo: Callable[[str], None]) -> Any | None:
    """The verified state at ``path`` when there is one, read under its lock (without one in a read-only cache)."""
    if not path.exists():
        return None
    try:
        with _locked(path, to_write=False):
            return _load(path, echo) if path.exists() else None
    except ReadOnlyCache:  # pragma: no cover - _locked raises it only for writes
        return None


def cached_state(name: str, spec: dict[str, Any], train_fn: Callable[[], dict[str, Any]], *,
                 depends_on: Iterable[Code] = (), project: Project | None = None,
                 echo: Callable[[str], None] = print) -> tuple[dict[str, Any], bool]:
    """``(state, was_cached)``. ``state`` is whatever ``train_fn`` returns (a dict of tensors and
    plain values, e.g. ``{"model": model.state_dict(), "log": log.to_dict()}``)."""
    depends_on = list(depends_on)
    path = checkpoint_path(name, spec, depends_on, project, train_fn)
    if (state := _read_existing(path, echo)) is not None:
        echo(f"[checkpoints] {name}: reusing {path.name}")
        _touch(path, "read")
        return state, True
    forbid_training(path)
    with _locked(path):
        if path.exists() and (state := _load(path, echo)) is not None:  # built by another process meanwhile
            echo(f"[checkpoints] {name}: reusing {path.name}")
            _touch(path, "read")
            return state, True
        state = train_fn()
        save_atomic(state, path, _description(name, spec, depends_on))
        _touch(path, "built")
    return state, False


def load_cached(path: Path, echo: Callable[[str], None] = print) -> Any | None:
    """The verified state saved at ``path``, or None when there is none (a damaged file is moved aside)."""
    state = _read_existing(path, echo)
    if state is not None:
        _touch(path, "read")
    return state


def store(path: Path, name: str, spec: dict[str, Any], state: Any) -> None:
    """Save ``state`` at ``path`` (a ``checkpoint_path``) as ``cached_state`` would have."""
    with _locked(path):
        save_atomic(state, path, _description(name, spec, []))
        _touch(path, "built")
