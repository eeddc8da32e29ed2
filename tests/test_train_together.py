"""Runs trained together (``train_many``): the same arithmetic as separate runs, each run its own
batches, optimiser and schedule; ``plain_forward`` gives a HookedTransformer's logits, at every
position or at one (the last block computed there alone); a grid groups its jobs and keeps their order."""

import copy
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from ftscope.jain.grid import run_grid
from ftscope.train.answers import AnswerBatch, AnswerLoss, answer_loss, finetune, finetune_many
from ftscope.train.loop import NonFiniteLoss, OptimConfig, TrainLog, train_many
from ftscope.train.models import has_hooks, logits_at, mingpt, plain_forward, plain_forward_supported

VOCAB, T = 7, 9


@dataclass
class Toy(AnswerBatch):
    tokens: torch.Tensor
    answer: torch.Tensor
    note: str = "toy"

    @property
    def inputs(self):
        return self.tokens

    @property
    def predict_pos(self):
        return T - 1


def toy_batch(shift: int):
    """The answer is (first token + shift) mod VOCAB: learnable, and different per run."""
    def sample(rng):
        tokens = torch.as_tensor(rng.integers(0, VOCAB, (16, T)))
        return Toy(tokens, (tokens[:, 0] + shift) % VOCAB)
    return sample


def tiny(seed, **kw):
    spec = dict(n_layers=1, n_heads=2, d_model=16, n_ctx=T, d_vocab=VOCAB)
    return mingpt(**{**spec, **kw}, seed=seed)


def tracr_like(seed):
    """A HookedTransformer as tracr compiles them: no LayerNorm, ReLU, bidirectional attention."""
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(n_layers=2, n_heads=1, d_model=12, d_head=5, d_mlp=8, n_ctx=T, d_vocab=VOCAB,
                                  act_fn="relu", normalization_type=None, attention_dir="bidirectional",
                                  attn_scale=1.7, seed=seed, init_weights=True)
    return HookedTransformer(cfg)


@pytest.mark.parametrize("make", [tiny, tracr_like])
def test_plain_forward_gives_the_hooked_transformers_logits(make):
    model = make(0)
    assert plain_forward_supported(model)
    tokens = torch.randint(0, VOCAB, (4, T))
    with torch.no_grad():
        assert torch.allclose(plain_forward(model.cfg, dict(model.named_parameters()), tokens), model(tokens),
                              atol=1e-6)


@pytest.mark.parametrize("make", [tiny, tracr_like])
@pytest.mark.parametrize("at", [0, 3, T - 1, -1])
def test_logits_at_one_position_are_the_modules(make, at):
    """The last block computed at one position gives that position's logits of the whole model, for
    causal (minGPT) and bidirectional (tracr) attention, one layer or two."""
    model = make(0)
    tokens = torch.randint(0, VOCAB, (5, T))
    with torch.no_grad():
        full = model(tokens)
        assert plain_forward(model.cfg, dict(model.named_parameters()), tokens, at).shape == (5, VOCAB)
        assert torch.allclose(logits_at(model, tokens, at), full[:, at], atol=1e-6)
    with pytest.raises(IndexError, match="outside the 9 positions"):
        plain_forward(model.cfg, dict(model.named_parameters()), tokens, T)


def test_logits_at_respects_hooks():
    """A model with a hook attached (an ablation, a pruning mask) runs its own forward, hooks and all."""
    model = tiny(0)
    tokens = torch.randint(0, VOCAB, (3, T))
    assert not has_hooks(model)
    with torch.no_grad():
        clean = logits_at(model, tokens, -1)
        model.blocks[0].hook_resid_pre.add_hook(lambda x, hook: torch.zeros_like(x))
        assert has_hooks(model)
        ablated = logits_at(model, tokens, -1)
        model.reset_hooks()
        assert torch.allclose(ablated, model.unembed(model.ln_final(model.blocks[0](torch.zeros(3, T, 16))))[:, -1],
                              atol=1e-6)
    assert not torch.allclose(clean, ablated)


@dataclass
class Moving(AnswerBatch):
    tokens: torch.Tensor
    answer: torch.Tensor
    pos: int

    @property
    def inputs(self):
        return self.tokens

    @property
    def predict_pos(self):
        return self.pos


def test_runs_together_read_one_answer_position():
    """Runs whose losses read different positions cannot share one forward at one position."""
    def sample(pos):
        return lambda rng: Moving(torch.as_tensor(rng.integers(0, VOCAB, (4, T))), torch.zeros(4, dtype=torch.long), pos)

    with pytest.raises(ValueError, match="differ in 'pos'|read different positions"):
        train_many([tiny(0), tiny(1)], [sample(2), sample(5)], AnswerLoss(), 1, [OptimConfig()] * 2,
                   rngs=[np.random.default_rng(0), np.random.default_rng(1)])


def test_plain_forward_is_not_claimed_for_other_architectures():
    assert not plain_forward_supported(torch.nn.Linear(2, 2))
    from ftscope.train.models import mistral

    rotary = mistral(d_model=16, d_mlp=32, n_heads=2, n_kv_heads=1, d_head=8, n_ctx=T, d_vocab=VOCAB, seed=0)
    assert not plain_forward_supported(rotary)


@pytest.mark.parametrize("make,optimizer", [(tiny, "adamw"), (tracr_like, "sgd")])
def test_runs_together_do_what_separate_runs_do(make, optimizer):
    """Three runs, each with its own learning rate, schedule, data and clipping: trained together, each
    ends where its separate run ends (to float rounding) and draws the same batches."""
    optims = [OptimConfig(optimizer=optimizer, lr=lr, grad_clip=clip, warmup=0.1)
              for lr, clip in ((3e-3, None), (1e-2, 0.5), (3e-4, 1.0))]
    together = [make(s) for s in range(3)]
    alone = [copy.deepcopy(m) for m in together]
    rngs = [np.random.default_rng(s) for s in range(3)]
    logs = train_many(together, [toy_batch(s) for s in range(3)], AnswerLoss(), 30, optims, rngs=rngs)
    for s in range(3):
        rng = np.random.default_rng(s)
        log = finetune(alone[s], toy_batch(s), 30, optims[s], rng)
        assert [r["loss"] for r in logs[s].rows] == pytest.approx([r["loss"] for r in log.rows], rel=1e-4, abs=1e-5)
        assert [r["lr"] for r in logs[s].rows] == [r["lr"] for r in log.rows]
        # the same function (not every weight: Adam turns the rounding noise of a zero gradient, such as
        # the key bias's, into full-size steps that change no output)
        probe = toy_batch(0)(np.random.default_rng(99)).tokens
        with torch.no_grad():
            assert torch.allclose(together[s](probe), alone[s](probe), atol=1e-4)
        assert rngs[s].integers(1 << 30) == rng.integers(1 << 30)  # the same draws were taken
    assert logs[0].rows[-1]["loss"] != logs[1].rows[-1]["loss"]


def test_compiled_runs_together_match_eager(monkeypatch):
    models = [tiny(s) for s in range(2)]
    eager = [copy.deepcopy(m) for m in models]
    args = dict(steps=5, optims=[OptimConfig(lr=1e-2)] * 2)
    a = finetune_many(models, [toy_batch(0), toy_batch(1)], rngs=[np.random.default_rng(s) for s in range(2)],
                      compile=True, **args)
    b = finetune_many(eager, [toy_batch(0), toy_batch(1)], rngs=[np.random.default_rng(s) for s in range(2)], **args)
    for la, lb in zip(a, b):
        assert [r["loss"] for r in la.rows] == pytest.approx([r["loss"] for r in lb.rows], rel=1e-4)


def test_a_loss_without_a_logits_split_still_trains_together():
    models = [tiny(s) for s in range(2)]
    logs = train_many(models, [toy_batch(0)] * 2, lambda m, b: answer_loss(m, b), 3, [OptimConfig()] * 2,
                      rngs=[np.random.default_rng(s) for s in range(2)])
    assert all(len(log.rows) == 3 for log in logs)


def test_evaluations_are_per_run():
    models = [tiny(s) for s in range(2)]
    logs = train_many(models, [toy_batch(0)] * 2, AnswerLoss(), 4, [OptimConfig()] * 2,
                      rngs=[np.random.default_rng(s) for s in range(2)], eval_at=[0, 4],
                      evaluate=[lambda m: {"run": 0.0}, lambda m: {"run": 1.0}])
    assert [[e["run"] for e in log.evals] for log in logs] == [[0.0, 0.0], [1.0, 1.0]]
    assert [e["step"] for e in logs[0].evals] == [0, 4]


def test_bad_groups_fail_before_training():
    with pytest.raises(ValueError, match="architecture"):
        train_many([tiny(0), tiny(1, d_model=32)], [toy_batch(0)] * 2, AnswerLoss(), 2, [OptimConfig()] * 2,
                   rngs=[np.random.default_rng(0)] * 2)
    with pytest.raises(ValueError, match="as many samplers"):
        train_many([tiny(0), tiny(1)], [toy_batch(0)], AnswerLoss(), 2, [OptimConfig()] * 2,
                   rngs=[np.random.default_rng(0)] * 2)
    with pytest.raises(ValueError, match="valid choices"):
        AnswerLoss("nope")


def test_batches_that_differ_in_a_plain_field_cannot_train_together():
    def odd(rng):
        batch = toy_batch(0)(rng)
        batch.note = str(rng.integers(10**9))
        return batch

    with pytest.raises(ValueError, match="'note'"):
        train_many([tiny(0), tiny(1)], [odd, odd], AnswerLoss(), 1, [OptimConfig()] * 2,
                   rngs=[np.random.default_rng(0), np.random.default_rng(1)])


def test_one_diverging_run_stops_the_group_and_is_named():
    with pytest.raises(NonFiniteLoss, match="run 1 of 2"):
        train_many([tiny(0), tiny(1)], [toy_batch(0)] * 2, AnswerLoss(), 30,
                   [OptimConfig(lr=1e-3), OptimConfig(optimizer="sgd", lr=1e12, warmup=0.0)],
                   rngs=[np.random.default_rng(0), np.random.default_rng(1)])


def test_run_grid_fits_groups_together_and_keeps_the_jobs_order():
    groups = []

    def fit(jobs):
        groups.append((jobs[0]["task"], [j["x"] for j in jobs]))
        return [(f"m{j['x']}", TrainLog(evals=[{"step": 1, "acc": j["x"]}]), {"acc": j["x"]}) for j in jobs]

    jobs = [{"task": t, "x": x} for x in range(5) for t in ("A", "B")]
    grid = run_grid(jobs, fit, together=lambda j: j["task"], max_together=2)
    assert groups == [("A", [0, 1]), ("A", [2, 3]), ("A", [4]), ("B", [0, 1]), ("B", [2, 3]), ("B", [4])]
    groups.clear()
    run_grid(jobs, fit, together=lambda j: j["task"], max_together=4)  # 5 jobs: 3 + 2, not 4 + 1
    assert groups == [("A", [0, 1, 2]), ("A", [3, 4]), ("B", [0, 1, 2]), ("B", [3, 4])]
    assert grid.runs[["task", "x", "acc"]].values.tolist() == [[j["task"], j["x"], j["x"]] for j in jobs]
    with pytest.raises(ValueError, match="max_together"):
        run_grid(jobs, fit, together=lambda j: j["task"], max_together=0)
