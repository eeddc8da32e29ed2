"""Training cells: a cached trained artefact declared once, as its builder, its spec and the cells
it depends on (a fine-tune depends on its pretraining).

    base = Cell("horn-base", spec, build)                 # build() -> state dict
    ft = Cell("horn-ft-lua", spec_ft, build_ft, deps=(base,))
    state, was_cached = ft.get()                          # from the cache, or built (its deps first)
    get_together(cells, build_many)                       # the cells not cached built by one call

A cell's key is the checkpoint key of ``ftscope.train.checkpoints`` (its spec, the code its builder
reaches, the library versions) extended with its dependencies' keys, so a new base means new
fine-tunes. What a notebook asks for is a cell; a sweep over a chapter's cells fills the same cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftscope.paths import Project
from ftscope.train.checkpoints import cached_state, checkpoint_path, load_cached, spec_hash, store


@dataclass(frozen=True)
class Cell:
    name: str  # the checkpoint's name: <cache>/checkpoints/<name>-<key>.pt
    spec: dict[str, Any]  # every setting the builder reads (config fields, seeds, steps, data digests)
    build: Callable[[], dict[str, Any]] = field(compare=False)  # trains it; returns the state to keep
    deps: tuple[Cell, ...] = ()  # cells whose result the builder starts from

    def full_spec(self, project: Project | None = None) -> dict[str, Any]:
        return {**self.spec, "deps": [d.path(project).name for d in self.deps]} if self.deps else self.spec

    def spec_key(self) -> str:
        """The key of the cell's own spec and code (without its dependencies')."""
        return spec_hash(self.spec, train_fn=self.build)

    def path(self, project: Project | None = None) -> Path:
        return checkpoint_path(self.name, self.full_spec(project), project=project, train_fn=self.build)

    def is_cached(self, project: Project | None = None) -> bool:
        return self.path(project).exists()

    def get(self, project: Project | None = None, echo: Callable[[str], None] = print) -> tuple[dict[str, Any], bool]:
        """``(state, was_cached)``: from the cache, or built and saved."""
        return cached_state(self.name, self.full_spec(project), self.build, project=project, echo=echo)


def get_together(cells: list[Cell], build_many: Callable[[list[Cell]], list[dict[str, Any]]],
                 project: Project | None = None, echo: Callable[[str], None] = print) -> list[tuple[dict[str, Any], bool]]:
    """``(state, was_cached)`` of every cell, in order: those in the cache read from it, the others
    built by one call ``build_many(missing)`` (runs of one architecture trained together, say) and each
    saved where its own ``get`` would have saved it, under its own key. ``build_many([cell])`` must do
    what ``cell.build()`` does; trained with others, a cell's weights may differ from its lone build by
    the order of floating-point sums."""
    paths = [cell.path(project) for cell in cells]
    out: list[tuple[dict[str, Any], bool] | None] = []
    for cell, path in zip(cells, paths):
        state = load_cached(path, echo)
        if state is not None:
            echo(f"[checkpoints] {cell.name}: reusing {path.name}")
        out.append(None if state is None else (state, True))
    missing = [i for i, got in enumerate(out) if got is None]
    if missing:
        states = build_many([cells[i] for i in missing])
        if len(states) != len(missing):
            raise ValueError(f"get_together: build_many returned {len(states)} states for {len(missing)} cells")
        for i, state in zip(missing, states):
            store(paths[i], cells[i].name, cells[i].full_spec(project), state)
            out[i] = (state, False)
    return out
