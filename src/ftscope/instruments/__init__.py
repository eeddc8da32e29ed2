"""Instruments that look inside a model: activations, linear probes, pruning by attribution, a sampler,
revival (reverse fine-tuning read off curves), SLERP merging, sparse autoencoders, SAE feature
matching, and the book's plots. None imports a paper package."""

from ftscope._exports import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["HOOK", "residuals", "hook_batches", "hook_acts", "pattern_similarity"], "activations"),
    **dict.fromkeys(["ProbeResult", "fit_probe"], "probing"),
    **dict.fromkeys(["sample"], "generation"),
    **dict.fromkeys(["Unit", "attribution_scores", "top_units", "zero_units", "pruning_curve", "reset_most_changed",
                     "changed_weights"], "pruning"),
    **dict.fromkeys(["first_step_reaching", "revival_speedup", "revival_table", "n_faster", "n_undecided", "decided"],
                     "revival"),
    **dict.fromkeys(["MergeReport", "slerp", "slerp_info", "slerp_state_dict"], "merging"),
    **dict.fromkeys(["cached_sae", "sae_cell", "train_sae", "load_sae", "sae_metrics", "geometric_median"], "sae"),
    **dict.fromkeys(["activations", "probing", "pruning", "revival", "merging", "sae", "matching", "plots", "generation"], ""),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
