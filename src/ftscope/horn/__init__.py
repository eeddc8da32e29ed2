"""Horn & Elliott (2024), *Analysing the effects of fine-tuning and merging on SAE features*:
its setting and its reported numbers.

- ``setup``: ``HornConfig``, the four corpora, the tokenizer and token streams, samplers.
- ``training``: the 1-layer Mistral-style base model and its Lua and stories fine-tunes (cached).
- ``evaluation``: accuracy per model and domain, instruction following (chapter 08).
- ``merging``: SLERP merges, the four models, the Fig. 5 sweep and what is read off its curves.
- ``features``: an SAE per model, features matched across models, their flows (chapter 09).
- ``case_studies``: low-level features, the ``=`` and ``try``/``except`` features, the proxy (chapter 09).
- ``claims``: each chapter's claims.
- ``reported``: the paper's numbers (model cards, Fig. 5).
"""

from ftscope._exports import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["HornConfig", "Corpora", "load_corpora", "block_sampler", "eval_blocks", "sae_rows", "DOMAINS",
                     "BASE_CORPORA", "CORPORA", "MIXTURES", "STORY_SAMPLE", "TOKEN_EXAMPLES", "corpus_table",
                     "story_sample", "tokenization"], "setup"),
    **dict.fromkeys(["base_cell", "finetune_cell", "pretrained_base", "finetuned", "finetunes", "evaluate", "build",
                     "base_steps", "ft_steps", "lm_loss", "trained_parameters", "model_table", "loss_curves"], "training"),
    **dict.fromkeys(["BASE_DOMAIN", "validation_sets", "accuracies", "accuracy_table", "gains", "lies_between",
                     "instruction_following"], "evaluation"),
    **dict.fromkeys(["merged", "merged_luastories", "four_models", "sweep", "crossing", "is_monotone", "retention",
                     "MONOTONE_TOL", "HALFWAY", "sweep_curves", "SweepSummary", "summarise_sweep", "sweep_figure",
                     "rules_figure", "compare_rules", "rules_difference", "hf_row_axes", "HF_ROW_AXES", "normalised",
                     "SUMMARY_ROWS", "model_seeds", "SeedRun", "seed_runs", "seed_accuracy", "seed_gains", "seed_summary_table",
                     "seed_facts"],
                    "merging"),
    **dict.fromkeys(["MODELS", "PAIRS", "SEED_CONTROL", "CONTROL", "SAEs", "Matching", "sae_label", "sae_runs",
                     "control_pairs", "partner", "seed_pair", "pair_name", "seed_pairs", "all_pairs", "pairs",
                     "train_saes", "sae_cells", "shared_rows", "CHAINS", "CONTROL_CHAIN",
                     "FLOOR", "FLOOR_SEED_OFFSET", "FLOOR_ROW", "FLOOR_PARTNER", "FLOOR_PARENTS", "FLOOR_CHAINS",
                     "SAE_MIXTURES", "random_model", "with_floor", "floor_pairs", "chain_persist", "chain_table", "match_features", "match_acts", "token_profile_table", "threshold_figure", "seed_control_figure", "sankey"],
                    "features"),
    **dict.fromkeys(["LowLevel", "CaseStudy", "TOP_K", "ASSIGNMENT_TEXTS", "TRY_EXCEPT_TEXTS", "lowlevel_enrichment",
                     "lowlevel_seeds", "token_positions", "case_study", "seed_case_studies", "disappearance", "highlight",
                     "proxy_scores", "proxy_gap", "proxy_seeds", "proxy_figure"],
                    "case_studies"),
    **dict.fromkeys(["record_model_claims", "record_feature_claims", "share_margin",
                     "FLOOR_R_MARGIN"], "claims"),
    **dict.fromkeys(["PAPER_ACC", "PAPER_PARAMS", "PAPER_BASE_EPOCHS", "PAPER_BASE_TOKENS", "PAPER_SAE_L1",
                     "PAPER_SWEEP_T", "PAPER_SWEEP_ACC", "PAPER_LUASTORIES_T", "PAPER_LUASTORIES_ACC", "paper_config"],
                    "reported"),
    **dict.fromkeys(["setup", "training", "evaluation", "merging", "features", "case_studies", "claims",
                     "reported"], ""),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
