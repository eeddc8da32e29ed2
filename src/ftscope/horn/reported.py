"""Horn & Elliott (2024): the numbers the paper reports (model cards, Fig. 5)."""

import numpy as np

# Model cards (validation accuracy / loss; base on baby-python, fine-tunes on their own domain).
PAPER_ACC = {"base": 0.4190, "lua": 0.4941, "stories": 0.5196}
# Fig. 5: SLERP sweep from the TinyStories fine-tune (t = 0) to the Lua fine-tune (t = 1), step 0.05.
PAPER_SWEEP_T = np.round(np.arange(0, 1.0001, 0.05), 2)
PAPER_SWEEP_ACC = {
    "stories": np.array([.520, .517, .511, .504, .494, .483, .470, .457, .442, .427, .411, .393, .375, .359, .343,
                         .327, .311, .295, .279, .263, .247]),
    "lua": np.array([.176, .190, .207, .222, .237, .253, .271, .290, .310, .332, .355, .377, .398, .418, .436, .452,
                     .467, .478, .486, .492, .494]),
}

