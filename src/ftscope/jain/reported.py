"""The numbers Jain et al. (2024) report, in one place: the chapters glue them into prose and claims
from here, never type them. Each carries where in the paper it comes from (arXiv v2 / ICLR 2024)."""

from __future__ import annotations

# ------------------------------------------------------------------ tracr setting (Sec. 5, App. B.1, C.1)
TRACR_FT_STEPS = 10_000  # App. C.1: fine-tuning runs for 10K iterations
COUNTER_INPUT_LEN = 40  # not stated; the inputs in the paper's Counter figures (e.g. Fig. 10) are about 40 tokens

# Table 3: accuracy (%) of the pretraining answer O_PT and the fine-tuning answer O_FT at C_Te = 1 and 0,
# as (task, η, C_Tr, acc_pt_cte1, acc_ft_cte1, acc_pt_cte0, acc_ft_cte0)
TABLE3_COLUMNS = ("task", "lr", "c_tr", "acc_pt_cte1", "acc_ft_cte1", "acc_pt_cte0", "acc_ft_cte0")
TABLE3 = (
    ("Counter", 1e-1, 0.0, 0, 100, 0, 100),
    ("Counter", 1e-1, 1.0, 0, 100, 35.8, 0.7),
    ("Counter", 1e-2, 1.0, 0.3, 98.3, 4.2, 0.2),
    ("Counter", 1e-3, 1.0, 4.0, 94.3, 10.3, 2.2),
    ("Counter", 1e-4, 1.0, 1.6, 98.3, 10.6, 0.2),
    ("Max id", 1e-4, 0.0, 0.5, 82.6, 0.5, 91.1),
    ("Max id", 1e-2, 0.0, 29.7, 0.2, 16.3, 52.6),
)
COMPILED_ACCURACY = 1.0  # App. B.1: the compiled programs are exact by construction
COUNTER_CTR0_LEARNS = 1.0  # Table 3: Counter, η = 1e-1, C_Tr = 0 counts b on uncorrelated data (100%)
PRUNE_ONE_WEIGHT_GAIN = 0.6  # App. G.1, Fig. 55: pruning one weight revives count-a by more than 60%
REFT_FASTER_SHARE = 1.0  # Fig. 27 (and Fig. 9): reFT revives faster than Scr.+FT in every case shown

# ------------------------------------------------------------------ PCFG setting (Sec. 4, App. B.2, C.2, H)
MODEL_LAYERS, MODEL_HEADS, MODEL_WIDTH = 6, 6, 192  # App. B.2: minGPT, 6 layers, 6 heads, d = 192
WINDOW = 250  # App. B.2, Fig. 15: the text is a 250-letter window
COUNT_SPAN = 40  # App. B.2: C, CC and T read the last 40 positions
PRETRAIN_STEPS = "200K (also 10K-100K)"  # Sec. 4 / App. C.2: 200K iterations for the main results
PRETRAIN_LR = 1e-3  # App. C.2
FT_LRS = (1e-4, 1e-5, 1e-6)  # App. C.2: η_L, η_M, η_S for 10K iterations
FT_STEPS = 10_000  # App. C.2
PROBE_STEPS = 4_000  # App. H: probes train 4K iterations (AdamW 1e-3, x0.1 at 2K, 3K and 3.5K)
PRUNE_NEURONS = "5-15"  # Fig. 7: pruning 5-15 neurons restores count-a
PRUNE_K_MAX = 15  # Fig. 7: K runs over 0-15 neurons

# Table 5, "before fine-tuning": count-b accuracy (%) of the pretrained models (count a: 100 under every prior),
# after 200K pretraining iterations (the main results) and after 50K
BEFORE_STEPS = ("200K", "50K")
BEFORE_COUNT_B_200K = {"low": 27.1, "medium": 99.9, "high": 99.9}
BEFORE_COUNT_B_50K = {"low": 5.17, "medium": 15.8, "high": 99.7}
BEFORE_COUNT_A = {"low": 100.0, "medium": 100.0, "high": 100.0}

# Table 5 (%): the low prior fine-tuned with C_Tr = 1 at each η, the wrapper's cells
TABLE5_WRAPPER = {
    "large": {"acc_ft_cte1": 100, "acc_ft_cte0": 1.6, "acc_pt_cte0": 15.2},
    "medium": {"acc_ft_cte1": 100, "acc_ft_cte0": 0.0, "acc_pt_cte0": 17.5},
    "small": {"acc_ft_cte1": 99.9, "acc_ft_cte0": 0.0, "acc_pt_cte0": 2.3},
}
# Table 5 (%): prior P(a) = 0.9, η_M, C_Tr = 0.8: the shortcut is avoided (count b at C_Te = 0)
TABLE5_SHORTCUT = {"acc_ft_cte0": 99.4}

# Fig. 9: reFT revives count-a within 0.1-1K iterations (medium, high prior), ~3K (low); Scr.+FT needs 4.5K
REFT_STEPS_OTHERS = "0.1–1K"
REFT_STEPS_LOW = "3K"
SCRATCH_STEPS = "4.5K"


# Results of the paper the book does not attempt: (where, what, why not)
NOT_ATTEMPTED = (
    ("App. E.1", "Mixing pretraining data into fine-tuning (PT/FT ratios 50/50, 10/90, 0.1/99.9) keeps the "
     "wrapper picture", "each ratio is another grid of PCFG fine-tunes on every prior; not within the laptop budget "
     "on 2 cores, and the paper reports it as a robustness check of the same finding"),
    ("App. E.2", "Jailbreak tokens (T_J1, T_J2) recover count(a) after fine-tuning when the prior on b is high",
     "needs the jailbreak task tokens in the PCFG pretraining mix and its own pretrainings; not built yet"),
    ("App. E.4", "reFT after random-label fine-tuning (randFT) revives about as fast as ordinary reFT, faster "
     "than Scr. and Scr.+FT", "needs a randFT grid and a from-scratch baseline beside Scr.+FT; not built yet"),
)


def table3():
    """Table 3 as a DataFrame (percent)."""
    import pandas as pd

    return pd.DataFrame(list(TABLE3), columns=list(TABLE3_COLUMNS))


# ------------------------------------------------------------------ TinyStories setting (Sec. 5.2, App. F, S2 code)
STORIES_MODEL = "12 layers, 12 heads, d 768, vocabulary 8192, context 1024 (91M parameters)"  # App. F
STORIES_PRETRAIN_STEPS = 30_000  # App. F: batch 128, warmup then cosine to 0, peak LR 1e-3
STORIES_FINAL_LOSS = 0.8  # App. F: the pretrained model's final loss is about 0.8
STORIES_FT_STEPS = 4000  # S2 configs: deletion and recovery, constant LR, batch 128
STORIES_DELETE_LRS = (1e-4, 1e-5)  # S2: the two deletion LRs (η_M, η_S: the spec's reading)
STORIES_REFT_LR = 1e-5  # S2: the recovery LR
CLASSIFIER_ACCURACY = 0.92  # Sec. 5.2: the fine-tuned GPT-3.5 twist classifier's held-out accuracy
PROBE_AXIS = (0.85, 0.95)  # Fig. 11's probe panel: the Twist probes' accuracy axis ("lose only slightly")

# Table 1: twist proportion (%) of generations prompted with Twist, during reFT at iterations 0 / 30 / 300 / 3000
TABLE1_STEPS = (0, 30, 300, 3000)
TABLE1 = {
    ("F", "η_M"): (44, 81, 81, 82),
    ("F+R", "η_M"): (12, 56, 69, 75),
    ("F+MM", "η_M"): (31, 88, 50, 75),
    ("F", "η_S"): (69, 88, 75, 94),
    ("F+R", "η_S"): (12, 44, 81, 81),
    ("F+MM", "η_S"): (50, 81, 62, 81),
    ("Not in PT", ""): (12, 31, 44, 81),
}


def table1():
    """Table 1 as a DataFrame (percent), one row per protocol and η, one column per reFT iteration."""
    import pandas as pd

    rows = [{"protocol": p, "η": lr, **dict(zip(TABLE1_STEPS, v))} for (p, lr), v in TABLE1.items()]
    return pd.DataFrame(rows).set_index(["protocol", "η"])
