"""Horn & Elliott (2024), *Analysing the effects of fine-tuning and merging on SAE features*:
its setting and its reported numbers.

- ``setup``: ``HornConfig``, the four corpora, the tokenizer and token streams, samplers.
- ``training``: the 1-layer Mistral-style base model and its Lua and stories fine-tunes (cached).
- ``merging``: SLERP merges, the Fig. 5 sweep and what is read off its curves.
- ``reported``: the paper's numbers (model cards, Fig. 5).
"""

from ftscope._exports import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["HornConfig", "Corpora", "load_corpora", "block_sampler", "eval_blocks", "sae_rows", "DOMAINS",
                     "BASE_CORPORA", "CORPORA", "MIXTURES"], "setup"),
    **dict.fromkeys(["pretrained_base", "finetuned", "evaluate", "build", "base_steps", "ft_steps", "lm_loss"],
                    "training"),
    **dict.fromkeys(["merged", "sweep", "crossing", "is_monotone", "retention"], "merging"),
    **dict.fromkeys(["PAPER_ACC", "PAPER_SWEEP_T", "PAPER_SWEEP_ACC"], "reported"),
    **dict.fromkeys(["setup", "training", "merging", "reported"], ""),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
