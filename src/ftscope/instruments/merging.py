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
from collections.abc import Callable
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


def slerp_rows(t: float, v0: torch.Tensor, v1: torch.Tensor, *, dot_threshold: float = DOT_THRESHOLD,
               eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """mergekit 0.1.5's rule (``merge_methods/slerp.py``): ``v0``, ``v1`` as [rows, …], each row (an output
    unit of a ``[out, in]`` weight; each element of a vector) interpolated with its own angle, linear where
    that row's |cos| > ``dot_threshold``. Returns ``(merged, the share of rows that fell back to linear)``.
    The 0.0.4 rule (``slerp``) takes one angle for the whole flattened tensor."""
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"t must lie in [0, 1], got {t}")
    if v0.shape != v1.shape or v0.dim() == 0:
        raise ValueError(f"cannot merge tensors of shapes {tuple(v0.shape)} and {tuple(v1.shape)} by rows")
    a, b = v0.detach().double().reshape(v0.shape[0], -1), v1.detach().double().reshape(v1.shape[0], -1)
    na, nb = torch.linalg.vector_norm(a, dim=1, keepdim=True), torch.linalg.vector_norm(b, dim=1, keepdim=True)
    dot = ((a / torch.where(na > eps, na, 1.0)) * (b / torch.where(nb > eps, nb, 1.0))).sum(1, keepdim=True)
    dot = dot.clamp(-1.0, 1.0)
    linear = dot.abs() > dot_threshold
    theta = torch.acos(torch.where(linear, 0.0, dot))
    sin_theta = torch.where(linear, 1.0, torch.sin(theta))
    ca = torch.where(linear, 1.0 - t, torch.sin((1.0 - t) * theta) / sin_theta)
    cb = torch.where(linear, t, torch.sin(t * theta) / sin_theta)
    return (ca * a + cb * b).reshape(v0.shape).to(v0.dtype), linear.double().mean()


def slerp(t: float, v0: torch.Tensor, v1: torch.Tensor, *, dot_threshold: float = DOT_THRESHOLD,
          eps: float = EPS) -> torch.Tensor:
    """Spherical interpolation of two tensors of one shape, mergekit-style (see the module doc)."""
    return slerp_info(t, v0, v1, dot_threshold=dot_threshold, eps=eps)[0]


@dataclass
class MergeReport:
    """Per merged tensor: cosine between the two models' weights, and whether LERP was used."""

    cos: dict[str, float] = field(default_factory=dict)
    lerp_fallback: dict[str, float] = field(default_factory=dict)  # per tensor: fell back (1) or not (0); by rows, the share
    copied: list[str] = field(default_factory=list)  # non-float entries (buffers, masks) taken from the base

    def frame(self):
        import pandas as pd

        return pd.DataFrame({"cos": self.cos, "lerp_fallback": self.lerp_fallback})

    @property
    def fallback_share(self) -> float:
        """Fraction of the merged tensors for which SLERP fell back to linear interpolation (by rows: the
        mean over tensors of the share of rows that did)."""
        return sum(self.lerp_fallback.values()) / max(1, len(self.lerp_fallback))


RULES = ("tensor", "row")  # mergekit 0.0.4 (the paper's): one angle per tensor; 0.1.5: one per output row


def slerp_state_dict(t: float, base: dict[str, torch.Tensor], other: dict[str, torch.Tensor], *,
                     params: set[str] | None = None, rule: str = "tensor",
                     row_axes: Callable[[str], tuple[int, ...]] | None = None
                     ) -> tuple[dict[str, torch.Tensor], MergeReport]:
    """Merge two state dicts of one architecture tensor by tensor: ``slerp(t, base[k], other[k])``
    for floating-point entries (only those named in ``params`` when given, e.g. the trained
    parameters); other entries (buffers, integer or boolean tensors) are copied from ``base``.
    ``rule="row"`` merges each output row on its own (``slerp_rows``): ``row_axes(name)`` gives the axes
    of a tensor that index the output rows of the checkpoint mergekit would read (default: the first);
    the report's ``lerp_fallback`` is then the share of rows that fell back to linear."""
    if rule not in RULES:
        raise ValueError(f"unknown merge rule {rule!r}; valid choices: {', '.join(map(repr, RULES))}")
    if set(base) != set(other):
        missing = sorted(set(base) ^ set(other))
        raise KeyError(f"state dicts differ in keys: {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
    merged, report = {}, MergeReport()
    for key, v0 in base.items():
        v1 = other[key]
        if v0.is_floating_point() and (params is None or key in params):
            if rule == "row":
                merged[key], share = _by_rows(t, v0, v1, (row_axes or (lambda _: (0,)))(key))
                report.cos[key], report.lerp_fallback[key] = float("nan"), float(share)
            else:
                merged[key], report.cos[key], report.lerp_fallback[key] = slerp_info(t, v0, v1)
        else:
            if not v0.is_floating_point() and not torch.equal(v0, v1):
                raise ValueError(f"non-float entry {key!r} differs between the models; cannot merge it")
            merged[key] = v0.clone()
            report.copied.append(key)
    return merged, report


def _by_rows(t: float, v0: torch.Tensor, v1: torch.Tensor, axes: tuple[int, ...]) -> tuple[torch.Tensor, float]:
    """``slerp_rows`` with the rows indexed by ``axes`` of ``v0`` (moved first and flattened, then put back)."""
    rest = [d for d in range(v0.dim()) if d not in axes]
    order = list(axes) + rest
    a, b = v0.permute(order), v1.permute(order)
    rows = math.prod(v0.shape[d] for d in axes)
    merged, share = slerp_rows(t, a.reshape(rows, -1), b.reshape(rows, -1))
    return merged.reshape(a.shape).permute([order.index(d) for d in range(v0.dim())]).contiguous(), float(share)
