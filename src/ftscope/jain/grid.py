"""A grid of fine-tuning runs, as both of Jain et al.'s settings run them (Tables 3 and 5, Fig. 6):
each job fine-tunes one model; the grid keeps each run's final scores, its evaluations along the way
and the models the later analyses read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ftscope.progress import progress
from ftscope.train.loop import TrainLog


@dataclass
class Grid:
    runs: pd.DataFrame  # one row per job: its key, then its final scores
    curves: pd.DataFrame  # one row per evaluation during a run: its key, then the evaluation (empty if none)
    models: dict[tuple, Any]  # the fine-tuned models ``keep`` named, by that name


def run_grid(jobs: list[dict], fit: Callable[[int, dict], tuple[Any, TrainLog, dict]],
             keep: Callable[[dict], tuple | None] = lambda job: tuple(job.values()), desc: str = "") -> Grid:
    """Run ``fit(i, job)`` for each job in order; it returns ``(model, log, final scores)``. A model is
    kept under ``keep(job)`` unless that is None."""
    runs, curves, kept = [], [], {}
    for i, job in enumerate(progress(jobs, desc=desc) if desc else jobs):
        model, log, final = fit(i, job)
        runs.append({**job, **final})
        curves += [{**job, **e} for e in log.evals]
        if (name := keep(job)) is not None:
            kept[name] = model
    return Grid(pd.DataFrame(runs), pd.DataFrame(curves), kept)
