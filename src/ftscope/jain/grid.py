"""A grid of fine-tuning runs, as both of Jain et al.'s settings run them (Tables 3 and 5, Fig. 6):
each job fine-tunes one model; the grid keeps each run's final scores, its evaluations along the way
and the models the later analyses read."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ftscope.train.loop import TrainLog
from ftscope.train.parts import run_parts, split_parts


@dataclass
class Grid:
    runs: pd.DataFrame  # one row per job: its key, then its final scores
    curves: pd.DataFrame  # one row per evaluation during a run: its key, then the evaluation (empty if none)
    models: dict[tuple, Any]  # the fine-tuned models ``keep`` named, by that name


def run_grid(jobs: list[dict], fit: Callable[[list[dict]], list[tuple[Any, TrainLog, dict]]],
             keep: Callable[[dict], tuple | None] = lambda job: tuple(job.values()), desc: str = "",
             together: Callable[[dict], Hashable] | None = None, max_together: int = 64, workers: int = 1) -> Grid:
    """Run the jobs: ``fit(group)`` trains a group of jobs at once (``train.loop.train_many``) and
    returns each one's ``(model, log, final scores)``; jobs with the same ``together(job)`` form one
    group (None: each job alone; at most ``max_together`` jobs a group: a larger one is split, in
    order, into as few near-equal parts as that allows), groups run in the order of their first job; with
    ``workers > 1`` each single-threaded, up to ``workers`` at once in their own processes
    (``train.parts.run_parts``: the numbers are then the same for any ``workers > 1``). The grid's rows
    are in the order of ``jobs`` whatever the grouping. A model is kept under ``keep(job)`` unless that is None."""
    groups: dict[Hashable, list[int]] = {}
    for i, job in enumerate(jobs):
        groups.setdefault(i if together is None else together(job), []).append(i)
    if max_together < 1:
        raise ValueError(f"max_together must be >= 1, got {max_together}")
    chunks = [part for members in groups.values() for part in split_parts(members, max_together)]
    results: dict[int, tuple[Any, TrainLog, dict]] = {}
    fits = run_parts(lambda members: fit([jobs[i] for i in members]), chunks, workers=workers, desc=desc)
    for members, fitted in zip(chunks, fits):
        if len(fitted) != len(members):
            raise ValueError(f"run_grid: fit returned {len(fitted)} results for a group of {len(members)} jobs")
        results.update(zip(members, fitted))
    runs, curves, kept = [], [], {}
    for i, job in enumerate(jobs):
        model, log, final = results[i]
        runs.append({**job, **final})
        curves += [{**job, **e} for e in log.evals]
        if (name := keep(job)) is not None:
            kept[name] = model
    return Grid(pd.DataFrame(runs), pd.DataFrame(curves), kept)


def seed_models(models: dict[tuple, Any], seed: int) -> dict[tuple, Any]:
    """The models of one fine-tuning seed, keyed without it (a grid keeps its models under keys whose
    last part is the seed): what an analysis of one seed's models reads."""
    return {key[:-1]: model for key, model in models.items() if key[-1] == seed}


def seeds_of(models: dict[tuple, Any]) -> list[int]:
    """The fine-tuning seeds a grid kept models of, in order."""
    return sorted({key[-1] for key in models})


def over_seeds(results: list[dict]) -> dict:
    """Each seed's facts (one dict per seed, seed 0 first) as one dict: every number's mean over the seeds
    (what the prose cites), every other fact seed 0's, and each fact's per-seed list under its name with
    ``_seeds`` appended (what the claims judge, seed by seed)."""
    def mean(values):
        if all(v == values[0] for v in values):
            return values[0]
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        return sum(values) / len(values) if numbers else values[0]

    return {**{name: mean([r[name] for r in results]) for name in results[0]},
            **{f"{name}_seeds": [r[name] for r in results] for name in results[0]}}
