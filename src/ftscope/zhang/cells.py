"""Chapters 6 and 7's trainable cells, declared for ``ftscope sweep`` with the builders their notebooks call
(``setting.pretrain_cell`` and ``finetune_cell``, ``arms.lora_grid_cells`` and ``arm_cells``), so what a sweep
fills is what the notebooks read: ``CHAPTERS[name](preset, seed, device, overrides)`` is a
``train.cells.Declared``. Both chapters choose a learning rate from a grid's results (the paper's grid
search), so the runs at the chosen rate are declared once the grid is in the cache: a sweep declares again
after each round.
"""

from __future__ import annotations

from typing import Any

from ftscope.train.cells import Declared, Job
from ftscope.train.checkpoints import load_cached
from ftscope.zhang import setting as S

ZHANG_FT = "fine-tuning: the learning-rate grid and the other seeds"


def _chosen(cells: dict) -> float | None:
    """The rate of the lowest validation loss (``setting.choose_lr``) once every cell of ``{lr: Cell}`` is in
    the cache, else None."""
    states = {lr: load_cached(cell.path(), echo=lambda _: None) for lr, cell in cells.items()}
    if any(state is None for state in states.values()):
        return None
    return S.choose_lr({lr: float(state["val_ft"]) for lr, state in states.items()})


def _finetunes(cfg: S.ZhangConfig, setting: S.Setting, seed: int, device) -> tuple[Declared, float | None]:
    """Chapter 06's base, its learning-rate grid on seed 0 and, once the grid is cached, the chosen rate on
    every other seed; and the chosen rate (None until then)."""
    base = S.pretrain_cell(cfg, setting, seed, device)
    grid = {lr: S.finetune_cell(cfg, setting, base, lr, 0, seed, device) for lr in cfg.lr_grid}
    jobs = [Job((base,), work=("pretraining",))] + [Job((c,), work=(ZHANG_FT,)) for c in grid.values()]
    lr = _chosen(grid)
    if lr is None:
        return Declared(jobs, later=["the chosen learning rate's other seeds: declared once the grid is cached"]), None
    jobs += [Job((S.finetune_cell(cfg, setting, base, lr, s, seed, device),), work=(ZHANG_FT,))
             for s in range(1, cfg.seeds)]
    return Declared(jobs), lr


def topic_style_fact(preset: str, seed: int, device, overrides: dict[str, Any]) -> Declared:
    """Chapter 06: the base model, the learning-rate grid and the chosen rate's seeds."""
    cfg = S.ZhangConfig.from_preset(preset, **overrides)
    return _finetunes(cfg, S.load_setting(cfg, seed), seed, device)[0]


def capacity_and_data(preset: str, seed: int, device, overrides: dict[str, Any]) -> Declared:
    """Chapter 07: chapter 06's runs, then the LoRA learning-rate grid, then (at the LoRA rate it chooses)
    every arm's runs."""
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
    grid = A.lora_grid_cells(cfg, setting, lr, seed, device)
    declared.jobs += [Job((c,), work=("LoRA learning-rate grid",)) for c in grid.values()]
    lora_lr = _chosen(grid)
    if lora_lr is None:
        declared.later.append("every arm's runs: declared once the LoRA grid is cached")
        return declared
    declared.jobs += [Job((cell,), work=(_work(arm, level),))
                      for arm, level, _, cell in A.arm_cells(cfg, setting, lr, lora_lr, seed, device)]
    return declared


def _work(arm: str, level) -> str:
    """The plan's row (``zhang.bench``) of an arm's run."""
    if arm == "capacity":
        return "capacity: LoRA ranks"
    if arm == "data":
        return f"data: {level:,} documents"
    if arm == "independence":
        return "independence: one factor at a time"
    return f"mixing: {level:.0%} replay"


CHAPTERS = {"06_topic_style_fact": topic_style_fact, "07_capacity_and_data": capacity_and_data}
