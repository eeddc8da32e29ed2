"""SLERP model merging with mergekit's semantics (Horn & Elliott 2024 merge with mergekit).

``slerp(t, v0, v1)`` follows ``mergekit/merge_methods/slerp.py``: per tensor, the angle comes
from the *normalised* flattened vectors, but the interpolation weights are applied to the
*unnormalised* tensors; when the normalised vectors are (anti-)parallel, |cos| > 0.9995, it
falls back to linear interpolation. ``t = 0`` gives ``v0`` exactly, ``t = 1`` gives ``v1``
(up to rounding). mergekit puts the base model first (``v0 = base``).

We compute in float64 and cast back to ``v0``'s dtype; mergekit computes in float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

DOT_THRESHOLD = 0.9995  # mergekit's default
EPS = 1e-8


def _normalized(v: torch.Tensor, eps: float) -> torch.Tensor:
    n = torch.linalg.vector_norm(v)
    return v / n if n > eps else v


def slerp_info(t: float, v0: torch.Tensor, v1: torch.Tensor, *, dot_threshold: float = DOT_THRESHOLD,
               eps: float = EPS) -> tuple[torch.Tensor, float, bool]:
    """``(merged, cos, lerp_fallback)``: ``slerp`` plus the cosine between the tensors and
    whether the linear fallback fired."""
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"t must lie in [0, 1], got {t}")
    if v0.shape != v1.shape:
        raise ValueError(f"cannot merge tensors of shapes {tuple(v0.shape)} and {tuple(v1.shape)}")
    if not (v0.is_floating_point() and v1.is_floating_point()):
        raise TypeError(f"slerp merges floating-point tensors, got {v0.dtype} and {v1.dtype}")
    a, b = v0.detach().double(), v1.detach().double()
    dot = float((_normalized(a.flatten(), eps) * _normalized(b.flatten(), eps)).sum())
    if abs(dot) > dot_threshold:
        merged = (1.0 - t) * a + t * b
        return merged.to(v0.dtype), dot, True
    theta = math.acos(dot)
    sin_theta = math.sin(theta)
    s0 = math.sin(theta - t * theta) / sin_theta
    s1 = math.sin(t * theta) / sin_theta
    return (s0 * a + s1 * b).to(v0.dtype), dot, False


def slerp(t: float, v0: torch.Tensor, v1: torch.Tensor, *, dot_threshold: float = DOT_THRESHOLD,
          eps: float = EPS) -> torch.Tensor:
    """Spherical interpolation of two tensors of one shape, mergekit-style (see the module doc)."""
    return slerp_info(t, v0, v1, dot_threshold=dot_threshold, eps=eps)[0]


@dataclass
class MergeReport:
    """Per merged tensor: cosine between the two models' weights, and whether LERP was used."""

    cos: dict[str, float] = field(default_factory=dict)
    lerp_fallback: dict[str, bool] = field(default_factory=dict)
    copied: list[str] = field(default_factory=list)  # non-float entries (buffers, masks) taken from the base

    def frame(self):
        import pandas as pd

        return pd.DataFrame({"cos": self.cos, "lerp_fallback": self.lerp_fallback})

    @property
    def fallback_share(self) -> float:
        """Fraction of the merged tensors for which SLERP fell back to linear interpolation."""
        return sum(self.lerp_fallback.values()) / max(1, len(self.lerp_fallback))


def slerp_state_dict(t: float, base: dict[str, torch.Tensor], other: dict[str, torch.Tensor], *,
                     params: set[str] | None = None) -> tuple[dict[str, torch.Tensor], MergeReport]:
    """Merge two state dicts of one architecture tensor by tensor: ``slerp(t, base[k], other[k])``
    for floating-point entries (only those named in ``params`` when given, e.g. the trained
    parameters); other entries (buffers, integer or boolean tensors) are copied from ``base``."""
    if set(base) != set(other):
        missing = sorted(set(base) ^ set(other))
        raise KeyError(f"state dicts differ in keys: {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
    merged, report = {}, MergeReport()
    for key, v0 in base.items():
        v1 = other[key]
        if v0.is_floating_point() and (params is None or key in params):
            merged[key], report.cos[key], report.lerp_fallback[key] = slerp_info(t, v0, v1)
        else:
            if not v0.is_floating_point() and not torch.equal(v0, v1):
                raise ValueError(f"non-float entry {key!r} differs between the models; cannot merge it")
            merged[key] = v0.clone()
            report.copied.append(key)
    return merged, report
