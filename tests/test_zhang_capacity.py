"""LoRA on chapter 6's GPT-2: which parameters train, how many, and that merging keeps the function."""

import numpy as np
import pytest
import torch

from ftscope.train.loop import OptimConfig, train
from ftscope.zhang import capacity
from ftscope.zhang import setting as S


def test_lora_trains_only_its_adapters_and_merges_to_the_same_function():
    cfg = S.ZhangConfig.from_preset("smoke", n_layer=2)
    base = S.build(cfg, 40, seed=0)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    batch = torch.randint(3, 40, (4, 12))
    with torch.no_grad():
        start = base(input_ids=batch).logits.clone()
    model = capacity.lora(base, rank=2, seed=0)
    d, layers = cfg.n_embd, cfg.n_layer
    # per block: c_attn (d -> 3d), attention c_proj (d -> d), c_fc (d -> 4d), MLP c_proj (4d -> d)
    assert capacity.adapter_parameters(model) == layers * 2 * ((d + 3 * d) + (d + d) + (d + 4 * d) + (4 * d + d))
    train(model, lambda r: batch, S.lm_loss, 5, OptimConfig(lr=1e-2, warmup=0.0), rng=np.random.default_rng(0))
    frozen = {k.removeprefix("base_model.model.").replace(".base_layer", ""): v
              for k, v in model.state_dict().items() if "lora_" not in k}
    assert all(torch.equal(frozen[k], before[k]) for k in before)  # the base's own weights never moved
    with torch.no_grad():
        adapted = model(input_ids=batch).logits
        plain = capacity.merged(model)(input_ids=batch).logits
    assert not torch.allclose(adapted, start, atol=1e-3)  # the adapters trained
    assert torch.allclose(adapted, plain, atol=1e-5)
    with pytest.raises(ValueError, match="positive int"):
        capacity.lora(S.build(cfg, 40, seed=0), rank=0, seed=0)


def test_lora_adapters_start_from_their_seed_not_from_the_global_generator():
    cfg = S.ZhangConfig.from_preset("smoke", n_layer=2)

    def adapters(seed, history: int) -> dict:
        torch.manual_seed(history)  # what the process ran before: another cell, a cached one
        torch.rand(history + 1)
        before = torch.random.get_rng_state()
        model = capacity.lora(S.build(cfg, 40, seed=0), rank=2, seed=seed)
        assert torch.equal(torch.random.get_rng_state(), before)  # the global generator is left as it was
        return {k: v.clone() for k, v in model.state_dict().items() if "lora_A" in k}

    a, b, c = adapters((0, 1), 5), adapters((0, 1), 9), adapters((0, 2), 5)
    assert a and all(torch.equal(a[k], b[k]) for k in a)
    assert not any(torch.equal(a[k], c[k]) for k in a)
