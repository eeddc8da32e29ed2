"""Reverse fine-tuning read off accuracy curves (Jain et al. 2024, Sec. 5, Figs. 9, 27): when a
capability comes back, and how much faster than learning it from a related start (Scr.+FT)."""

from __future__ import annotations

import math


def first_step_reaching(evals: list[dict[str, float]], key: str, level: float) -> float:
    """The first evaluated step at which ``key`` ≥ ``level`` (inf if never)."""
    return next((e["step"] for e in evals if e[key] >= level), float("inf"))


def revival_speedup(reft_step: float, baseline_step: float, budget: int) -> float:
    """How many times faster reFT reached a level than the baseline (Scr.+FT), from the steps
    ``first_step_reaching`` gives. When the baseline never got there, a lower bound: the whole
    ``budget`` over reFT's steps; 0 when reFT never got there but the baseline did; NaN when neither
    got there (the budget cannot tell them apart: inconclusive, not slower)."""
    if not math.isfinite(reft_step):
        return float("nan") if not math.isfinite(baseline_step) else 0.0
    return (baseline_step if math.isfinite(baseline_step) else budget) / max(reft_step, 1)


def decided(reft_step: float, baseline_step: float, budget: int, factor: float = 2.0) -> bool:
    """Whether the budget decides if reFT was ``factor`` times faster: not when neither reached the level,
    nor when only reFT did but the lower bound ``budget / reFT steps`` falls short of ``factor``."""
    if not math.isfinite(reft_step):
        return math.isfinite(baseline_step)
    return math.isfinite(baseline_step) or budget / max(reft_step, 1) >= factor


def revival_table(reft: dict, scratch: dict, key: str, level: dict, budget: int, index: str):
    """One row per reFT run ``reft[name]`` (a ``TrainLog`` with ``key`` in its evaluations): the
    ``level[name]`` to reach, the first evaluated step at which reFT and its baseline ``scratch[name]``
    (Scr.+FT) reach it, and reFT's ``revival_speedup`` within ``budget`` steps."""
    import pandas as pd

    rows = []
    for name, log in reft.items():
        r = first_step_reaching(log.evals, key, level[name])
        s = first_step_reaching(scratch[name].evals, key, level[name])
        rows.append({index: name, "level": round(level[name], 3), "reFT steps": r, "Scr.+FT steps": s,
                     "speed-up": revival_speedup(r, s, budget), "decided": decided(r, s, budget)})
    return pd.DataFrame(rows).set_index(index)


def n_faster(table, factor: float = 2.0) -> int:
    """How many rows of a ``revival_table`` revive at least ``factor`` times faster than Scr.+FT."""
    return int((table["speed-up"] >= factor).sum())


def n_undecided(table) -> int:
    """How many rows of a ``revival_table`` the budget does not decide (see ``decided``)."""
    return int((~table["decided"].astype(bool)).sum())
