"""What Zhang & Wu report, and the setup their released code gives (spec: ``shared/specs/zhang2024.md``).

The paper gives directions, not numbers: no share, per-size value, forgetting or LoRA figure was found in
any source, so every claim of Part II has ``paper_value`` None and states the direction it checks.
"""

from __future__ import annotations

#: Table 1: the derived data sets (``xiaozeroone/pubmed_derived``'s rows; the C4 card's split names were not
#: found, only "C4-counterfactual" in the reviews)
TABLE1 = {("pubmed", "orig"): 1000, ("pubmed", "nontopic"): 1000, ("pubmed", "counterfactual"): 991,
          ("pubmed", "casual"): 1000, ("pubmed", "rap"): 1000, ("c4", "orig"): 1000, ("c4", "counterfactual"): None,
          ("c4", "bio"): None, ("c4", "academic"): None}

#: the paper's setup beside ours (``analyses.scale_table``)
SETUP = {"model": "GPT-2 XL; LLaMA-2 7B and 13B", "parameters": "1.5B; 7B; 13B",
         "tokenizer": "the models' own (BPE)", "pretraining": "the models' own (WebText; LLaMA's 2T tokens)",
         "fine-tuning data": "PubMed abstracts (2023 baseline), 1,000 in the released config, up to 1M",
         "learning rate": "grid on a validation set (3e-6 in the released LLaMA-2 config)",
         "probes": "1,000 abstracts (PubMed) and 1,000 documents (C4 validation), each rewritten by ChatGPT"}

#: the released configs (``config/train_full.yaml``)
RELEASED = {"batch": 64, "epochs": 1, "optimizer": "AdamW", "lr": 3e-6, "schedule": "linear", "warmup": 0.1,
            "grad_clip": 1.0, "subset_examples": 1000, "max_tokens": 1024}
