"""Jain et al. (2024), *Mechanistically analyzing the effects of fine-tuning on procedurally
defined tasks*: its settings and its reported numbers.

- ``tracr``: compiling RASP programs (Counter, Max identifier) to TransformerLens models.
- ``compiled``: fine-tuning the compiled models (``TracrConfig``, samplers, Table 3, attention).
- ``pcfg``: the grammar, the task families, operand priors, the Counter sampler.
- ``pcfg_training``: PCFG minGPTs (``PcfgConfig``), cached pretraining, fine-tuning, analyses.
- ``tinystories``: Sec. 5.2's setting on the story world (``StoriesConfig``): the deletion data sets (F,
  F+R, F+MM), document-start windows, the base and "Not in PT" pretrainings, deletion and reFT runs
  (cached cells), twist share of sampled stories and twist-story loss.
- ``stories_analyses``: chapter 5's analyses (the base's instruction following, Table 1, Fig. 11, the
  six-feature probes).
- ``reported``: the paper's numbers (Tables 3 and 5, model sizes, step counts, figures' readings).
- ``compiled_analyses``, ``pcfg_analyses``: the chapters' analyses (grids, attention, pruning, probes, reFT).
- ``grid``: a grid of fine-tuning runs (``run_grid``); ``figures``: the chapters' figures;
  ``claims``: each chapter's claims, recorded on its ``Chapter``.
"""

from ftscope._exports import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["TracrConfig", "TracrBatch", "counter_batch", "max_id_batch", "noisy_copy", "attention_on",
                     "selector_layer"], "compiled"),
    **dict.fromkeys(["PcfgConfig", "pretrain_cell", "pretrained", "counter_tests", "finetune_counter",
                     "family_accuracy"],
                    "pcfg_training"),
    **dict.fromkeys(["Grid", "run_grid"], "grid"),
    **dict.fromkeys(["StoriesConfig"], "tinystories"),
    **dict.fromkeys(["tracr", "compiled", "pcfg", "pcfg_training", "reported", "compiled_analyses", "pcfg_analyses",
                     "grid", "figures", "claims", "tinystories", "stories_analyses"], ""),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
