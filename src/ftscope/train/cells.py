"""Training cells: a cached trained artefact declared once, as its builder, its spec and the cells
it depends on (a fine-tune depends on its pretraining).

    base = Cell("horn-base", spec, build)                 # build() -> state dict
    ft = Cell("horn-ft-lua", spec_ft, build_ft, deps=(base,))
    state, was_cached = ft.get()                          # from the cache, or built (its deps first)
    get_together(cells, build_many)                       # the cells not cached built by one call
    Job((ft,), work=("fine-tune on lua",))                # what one sweep job builds (``ftscope sweep``)

A cell's key is the checkpoint key of ``ftscope.train.checkpoints`` (its spec, the code its builder
reaches, the library versions) extended with its dependencies' keys, so a new base means new
fine-tunes. What a notebook asks for is a cell; a sweep over a chapter's cells fills the same cache
(each paper's ``cells`` module declares a chapter's jobs with the builders its notebook calls).

With ``FTSCOPE_CACHED_ONLY=1`` (``ftscope run --cached-only``) nothing is trained: a checkpoint that is not
in the cache is an error naming it (``checkpoints.NotCached``), so a notebook run after a sweep proves
that the sweep filled everything it reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftscope.paths import Project
from ftscope.train.checkpoints import cached_state, checkpoint_path, forbid_training, load_cached, spec_hash, store


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
        forbid_training(paths[missing[0]])
        states = build_many([cells[i] for i in missing])
        if len(states) != len(missing):
            raise ValueError(f"get_together: build_many returned {len(states)} states for {len(missing)} cells")
        for i, state in zip(missing, states):
            store(paths[i], cells[i].name, cells[i].full_spec(project), state)
            out[i] = (state, False)
    return out


@dataclass(frozen=True)
class Job:
    """What one sweep job builds: one cell, or cells trained together by one call (``get_together`` with
    ``build_many``, as the notebook trains them, so the sweep's weights are the notebook's). ``work`` names
    each cell's rows of the performance plan (``ftscope plan``: a ``Work.what`` of the same chapter), whose
    per-run estimate is the job's estimated cost."""

    cells: tuple[Cell, ...]
    build_many: Callable[[list[Cell]], list[dict[str, Any]]] | None = field(default=None, compare=False)
    work: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.cells:
            raise ValueError("a job builds at least one cell")
        if len(self.cells) > 1 and self.build_many is None:
            raise ValueError("cells trained together need build_many")

    def paths(self, project: Project | None = None) -> list[Path]:
        return [c.path(project) for c in self.cells]

    def missing(self, project: Project | None = None) -> list[Cell]:
        return [c for c in self.cells if not c.is_cached(project)]

    def deps(self, project: Project | None = None) -> set[str]:
        """The checkpoint names (``<name>-<key>.pt``) of the cells this job's cells start from."""
        return {d.path(project).name for c in self.cells for d in c.deps}

    def run(self, project: Project | None = None, echo: Callable[[str], None] = print) -> list[bool]:
        """Build what is not cached (reading what is); ``was_cached`` per cell."""
        if self.build_many is None:
            return [self.cells[0].get(project, echo)[1]]
        return [cached for _, cached in get_together(list(self.cells), self.build_many, project, echo)]


@dataclass
class Declared:
    """A chapter's trainable cells as sweep jobs, in the order its notebook builds them. ``later`` says which
    cells can only be declared once others are cached (a choice made from their results, or a key that is
    their model's weights): a sweep declares again after each round. ``inline`` names training the notebook
    still does itself, not as cells (a sweep leaves it to the notebook)."""

    jobs: list[Job]
    later: list[str] = field(default_factory=list)
    inline: list[str] = field(default_factory=list)

    def __add__(self, other: Declared) -> Declared:
        return Declared(self.jobs + other.jobs, self.later + other.later, self.inline + other.inline)
