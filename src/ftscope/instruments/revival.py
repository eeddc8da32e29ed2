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
    ``budget`` over reFT's steps; 0 when reFT never got there."""
    if not math.isfinite(reft_step):
        return 0.0
    return (baseline_step if math.isfinite(baseline_step) else budget) / max(reft_step, 1)
