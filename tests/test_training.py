import math

import numpy as np
import pytest
import torch

from ftscope.instruments.revival import decided, first_step_reaching, n_faster, revival_speedup
from ftscope.train.loop import (
    NonFiniteLoss,
    OptimConfig,
    checkpoint_state,
    load_trained,
    log_steps,
    lr_multiplier,
    train,
)
from ftscope.train.seeding import seed_everything


def test_schedule_warmup_then_cosine_to_final_ratio():
    cfg = OptimConfig(warmup=0.2, final_lr_ratio=0.01)
    steps = 100
    m = [lr_multiplier(s, steps, cfg) for s in range(steps)]
    assert m[0] == pytest.approx(1 / 20) and m[19] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(m[:20], m[1:20]))  # warmup rises
    assert all(a >= b for a, b in zip(m[20:], m[21:]))  # cosine falls
    assert lr_multiplier(steps, steps, cfg) == pytest.approx(0.01)
    assert lr_multiplier(5, steps, OptimConfig(schedule="constant")) == 1.0


def test_step_schedule_drops_by_gamma_at_milestones():
    cfg = OptimConfig(schedule="step", warmup=0.0, milestones=(0.5, 0.75, 0.875), gamma=0.1)
    m = [lr_multiplier(s, 4000, cfg) for s in (0, 1999, 2000, 2999, 3000, 3499, 3500, 3999)]
    assert m == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


def test_bad_optimizer_names_choices():
    with pytest.raises(ValueError, match="'sgd', 'adamw'"):
        OptimConfig(optimizer="adam")


def _fit(seed: int, clip=None, lr=0.05):
    rng = seed_everything(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))

    def sample(r):
        x = torch.tensor(r.normal(size=(16, 3)), dtype=torch.float32)
        return x, x.sum(-1, keepdim=True)

    log = train(model, sample, lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[1]), 60,
                OptimConfig(optimizer="adamw", lr=lr, grad_clip=clip), rng=rng,
                evaluate=lambda m: {"w_norm": float(m[0].weight.norm())}, eval_at=(0, 30, 60))
    return log


def test_training_learns_and_is_deterministic():
    a, b, c = _fit(0), _fit(0), _fit(1)
    assert a.rows == b.rows and a.evals == b.evals
    assert a.rows != c.rows
    assert a.final_loss < a.rows[0]["loss"] / 2
    assert [e["step"] for e in a.evals] == [0, 30, 60]
    assert all(math.isnan(r["grad_norm"]) for r in a.rows)
    assert all(np.isfinite(r["grad_norm"]) for r in _fit(0, clip=1.0).rows)


def test_divergence_stops_with_a_clear_error():
    rng = seed_everything(0)
    model = torch.nn.Linear(1, 1)
    with pytest.raises(NonFiniteLoss, match="step 0"):
        train(model, lambda r: torch.ones(2, 1), lambda m, b: m(b).sum() * float("nan"), 5,
              OptimConfig(), rng=rng)


def test_log_steps_and_first_step():
    steps = log_steps(1000, 6)
    assert steps[0] == 0 and steps[-1] == 1000 and steps == sorted(set(steps))
    evals = [{"step": 0, "acc": 0.1}, {"step": 10, "acc": 0.95}, {"step": 100, "acc": 0.99}]
    assert first_step_reaching(evals, "acc", 0.9) == 10
    assert first_step_reaching(evals, "acc", 1.0) == float("inf")


def test_revival_speedup_is_a_lower_bound_when_the_baseline_never_gets_there():
    assert revival_speedup(10, 40, 200) == 4.0
    assert revival_speedup(10, float("inf"), 200) == 20.0  # budget / reFT steps
    assert revival_speedup(0, 40, 200) == 40.0  # already at the level: counted as one step
    assert revival_speedup(float("inf"), 40, 200) == 0.0
    assert math.isnan(revival_speedup(float("inf"), float("inf"), 200))  # neither: undecided, not slower


def test_the_budget_decides_a_revival_only_when_it_can():
    inf = float("inf")
    assert decided(10, 40, 200) and decided(inf, 40, 200)  # both measured / reFT missed but Scr.+FT got there
    assert not decided(inf, inf, 200)  # neither got there
    assert decided(50, inf, 200) and not decided(150, inf, 200)  # lower bound 4x decides; 1.33x does not
    import pandas as pd

    from ftscope.instruments.revival import n_undecided
    table = pd.DataFrame({"speed-up": [4.0, float("nan"), 1.3], "decided": [True, False, False]})
    assert n_faster(table) == 1 and n_undecided(table) == 2


def test_checkpoint_state_round_trips_through_load_trained():
    rng = seed_everything(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))
    log = train(model, lambda r: torch.tensor(r.normal(size=(4, 3)), dtype=torch.float32),
                lambda m, x: m(x).pow(2).mean(), 5, OptimConfig(optimizer="adamw", lr=0.01), rng=rng)
    state = checkpoint_state(model, log)
    assert state["log"] == log.to_dict()
    assert all(v.device.type == "cpu" and not v.requires_grad for v in state["model"].values())
    fresh = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1)).train()
    loaded = load_trained(fresh, state["model"], "cpu")
    x = torch.ones(2, 3)
    assert not loaded.training  # eval mode: dropout off, so outputs are reproducible
    assert torch.equal(loaded(x), loaded(x)) and torch.equal(loaded(x), model.eval()(x))
