"""Chapters 2-5's trainable cells, declared for ``ftscope sweep`` with the builders their notebooks call
(``pcfg_training.pretrain_job``, ``pcfg_analyses.grid_job``, ``tinystories.pretrain_cells`` and ``finetune_cells``), so what a sweep fills
is what the notebooks read: ``CHAPTERS[name](preset, seed, device, overrides)`` is a ``train.cells.Declared``.
"""

from __future__ import annotations

from typing import Any

from ftscope.jain.compiled import TracrConfig
from ftscope.jain.pcfg_training import PcfgConfig, pretrain_job
from ftscope.train.cells import Declared, Job

TRACR_INLINE = ("the Counter and Max-identifier grids, reFT and Scr.+FT: small runs trained together in the "
                "notebook, not cached as cells")
PCFG_INLINE = "reFT and Scr.+FT (short runs from the grid's models), pruning and probes: in the notebook"


def tracr_finetuning(preset: str, seed: int, device, overrides: dict[str, Any]) -> Declared:
    """Chapter 02: no cells; its runs are trained in the notebook."""
    TracrConfig.from_preset(preset, **overrides)  # a bad override fails here, as in the notebook
    return Declared([], inline=[TRACR_INLINE])


def pcfg_pretraining(preset: str, seed: int, device, overrides: dict[str, Any]) -> Declared:
    """Chapter 03: every prior and ``b_only`` on ``seed``, then the priors on each further pretraining seed;
    each seed's pretrainings one job, trained together as the notebook trains them."""
    cfg = PcfgConfig.from_preset(preset, **overrides)
    jobs = [pretrain_job(cfg, [*cfg.priors, "b_only"], seed, device)]
    jobs += [pretrain_job(cfg, list(cfg.priors), seed + k, device) for k in range(1, cfg.pretrain_seeds)]
    return Declared(jobs)


def pcfg_finetuning(preset: str, seed: int, device, overrides: dict[str, Any]) -> Declared:
    """Chapter 04: its starting points (chapter 03's first seed), then the fine-tuning grid, one job whose
    runs are trained together as the notebook trains them."""
    from ftscope.jain.pcfg_analyses import grid_job

    cfg = PcfgConfig.from_preset(preset, **overrides)
    return Declared([pretrain_job(cfg, [*cfg.priors, "b_only"], seed, device), grid_job(cfg, seed, device)],
                    inline=[PCFG_INLINE])


def tinystories_wrappers(preset: str, seed: int, device, overrides: dict[str, Any]) -> Declared:
    """Chapter 05: the base and the two controls' pretrainings, then each deletion run (with its reFT) and the
    controls' fine-tuning, one job each (the notebook trains them one by one too)."""
    from ftscope.jain import tinystories as ts

    cfg = ts.StoriesConfig.from_preset(preset, **overrides)
    setting = ts.load_setting(cfg, seed)
    pre = ts.pretrain_cells(cfg, setting, seed, device)
    jobs = [Job((cell,), work=("pretraining (the base and the controls)",)) for cell in pre.values()]
    for run, cell in ts.finetune_cells(cfg, setting, pre, seed, device).items():
        work = ("reFT and the controls' fine-tuning",)
        jobs.append(Job((cell,), work=work if run.is_control else
                        ("deletion (every protocol and η, every seed)", *work)))
    return Declared(jobs)


CHAPTERS = {"02_tracr_finetuning": tracr_finetuning, "03_pcfg_pretraining": pcfg_pretraining,
            "04_pcfg_finetuning": pcfg_finetuning, "05_tinystories_wrappers": tinystories_wrappers}
