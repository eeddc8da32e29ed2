"""Chapters 6 and 7's trainable cells, declared for ``ftscope sweep`` with the builders their notebooks call
(``setting.pretrain_cell`` and ``finetune_cell``, ``arms.lora_grid`` and ``arm_cells``), so what a sweep
fills is what the notebooks read: ``CHAPTERS[name](preset, seed, device, overrides)`` is a
``train.cells.Declared``. Both chapters choose a learning rate from a grid's results (the paper's grid
search, extended past an edge while the best rate lies there), so a grid's extension and the runs at the chosen
rate are declared once the grid is in the cache: a sweep declares again after each round.
"""

from __future__ import annotations

from typing import Any

from ftscope.train.cells import Declared, Job
from ftscope.train.checkpoints import load_cached
from ftscope.zhang import setting as S

ZHANG_FT = "fine-tuning: the learning-rate grid and the other seeds"


def _cached_val(cell) -> float | None:
    """A cell's validation loss once it is in the cache, else None."""
    state = load_cached(cell.path(), echo=lambda _: None)
    return None if state is None else float(state["val_ft"])


def _finetunes(cfg: S.ZhangConfig, setting: S.Setting, seed: int, device) -> tuple[Declared, float | None]:
    """Chapter 06's base, its learning-rate grid on seed 0 (extended past an edge while the best rate lies there,
    ``setting.next_rate``, as ``setting.finetuned`` does) and, once the grid is cached, the chosen rate on every
    other seed; and the chosen rate (None until then)."""
    base = S.pretrain_cell(cfg, setting, seed, device)
    jobs = [Job((base,), work=("pretraining",))]
    grid, rates = {}, list(cfg.lr_grid)
    while rates:
        cells = {lr: S.finetune_cell(cfg, setting, base, lr, 0, seed, device) for lr in rates}
        jobs += [Job((c,), work=(ZHANG_FT,)) for c in cells.values()]
        vals = {lr: _cached_val(c) for lr, c in cells.items()}
        if any(v is None for v in vals.values()):
            return Declared(jobs, later=["the grid's extension past an edge and the chosen learning rate's other "
                                         "seeds: declared once the grid is cached"]), None
        grid |= vals
        nxt = S.next_rate(grid, cfg.lr_grid, cfg.lr_extend)
        rates = [] if nxt is None else [nxt]
    lr = S.choose_lr(grid)
    jobs += [Job((S.finetune_cell(cfg, setting, base, lr, s, seed, device),), work=(ZHANG_FT,))
             for s in range(1, cfg.seeds)]
    return Declared(jobs), lr


def topic_style_fact(preset: str, seed: int, device, overrides: dict[str, Any]) -> Declared:
    """Chapter 06: the base model, the learning-rate grid and the chosen rate's seeds."""
    cfg = S.ZhangConfig.from_preset(preset, **overrides)
    return _finetunes(cfg, S.load_setting(cfg, seed), seed, device)[0]


def capacity_and_data(preset: str, seed: int, device, overrides: dict[str, Any]) -> Declared:
    """Chapter 07: chapter 06's runs, then the LoRA learning-rate grid (and its extension), then (at the rates the
    grids choose) every arm's runs."""
    from ftscope.zhang import arms as A

    cfg = A.ArmsConfig.from_preset(preset, **overrides)
    zc = cfg.base_config()
    setting = S.load_setting(zc, seed)
    declared, lr = _finetunes(zc, setting, seed, device)
    declared.inline.append("the real-abstract fine-tunes of Part III's English base (the base is chapter 08's cell): "
                           "in the notebook")
    if lr is None:
        declared.later.append("the LoRA grid and every arm's runs: declared once chapter 06's grid is cached")
        return declared
    cells, losses, complete = A.lora_grid(cfg, setting, lr, seed, device, val=_cached_val)
    declared.jobs += [Job((c,), work=("LoRA learning-rate grid",)) for c in cells.values()]
    if not complete:
        declared.later.append("the LoRA grid's extension past an edge and every arm's runs: declared once the LoRA "
                              "grid is cached")
        return declared
    declared.jobs += [Job((cell,), work=(_work(arm, level),))
                      for arm, level, _, cell in A.arm_cells(cfg, setting, lr, S.choose_lr(losses), seed, device)]
    return declared


def _work(arm: str, level) -> str:
    """The plan's row (``zhang.bench``) of an arm's run."""
    from ftscope.zhang.arms import FULL

    if arm == "capacity":
        return "capacity: all the weights, to convergence" if level == FULL else "capacity: LoRA ranks, to convergence"
    if arm == "data":
        return f"data: {level:,} documents"
    if arm == "independence":
        return "independence: one factor at a time"
    return f"mixing: {level:.0%} replay"


CHAPTERS = {"06_topic_style_fact": topic_style_fact, "07_capacity_and_data": capacity_and_data}
