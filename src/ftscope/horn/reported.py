"""Horn & Elliott (2024): the numbers the paper reports (model cards, Fig. 5, Sec. 3).

The settings the paper states (model sizes, learning rates, batches, SAE betas, the match
threshold) are ``HornConfig``'s defaults, its ``paper`` preset (``paper_config()``); this module holds
the numbers that are results or that no config field carries.
"""

import numpy as np

# Model cards (validation accuracy / loss; base on baby-python, fine-tunes on their own domain).
PAPER_ACC = {"base": 0.4190, "lua": 0.4941, "stories": 0.5196}
# Model card (base): trained parameters of the 1-layer model with the 32K Mistral vocabulary.
PAPER_PARAMS = 35_100_000
# Model card (base): 3 epochs; the tokens are our estimate of 3 epochs of its BabyLM + baby-python subset.
PAPER_BASE_EPOCHS = 3
PAPER_BASE_TOKENS = 0.9e9
# Sec. 3: the authors' SAE L1 coefficients (their loss, not SAELens'; see chapter 09).
PAPER_SAE_L1 = (3e-4, 3e-3)
# Fig. 5: SLERP sweep from the TinyStories fine-tune (t = 0) to the Lua fine-tune (t = 1), step 0.05.
PAPER_SWEEP_T = np.round(np.arange(0, 1.0001, 0.05), 2)
PAPER_SWEEP_ACC = {
    "stories": np.array([.520, .517, .511, .504, .494, .483, .470, .457, .442, .427, .411, .393, .375, .359, .343,
                         .327, .311, .295, .279, .263, .247]),
    "lua": np.array([.176, .190, .207, .222, .237, .253, .271, .290, .310, .332, .355, .377, .398, .418, .436, .452,
                     .467, .478, .486, .492, .494]),
}
# Fig. 5 / LuaStories model card: the paper's merge (base = Lua, t = 0.58) read off Fig. 5 at t = 1 − 0.58.
PAPER_LUASTORIES_T = 0.42
PAPER_LUASTORIES_ACC = {"stories": 0.436, "lua": 0.319}


def paper_config():
    """``HornConfig`` at the paper's settings (the config's defaults are the paper's)."""
    from ftscope.horn.setup import HornConfig

    return HornConfig.from_preset("paper")
