"""Part III building blocks: BPE, the Mistral-style model, the Horn config, sampling, evaluation,
SLERP-sweep helpers and the SAELens wrapper, on small data made here."""

import numpy as np
import pytest
import torch

from ftscope import horn
from ftscope.config import ConfigError
from ftscope.data import tokenizer as bpe
from ftscope.data.corpora import take_chars
from ftscope.horn.setup import HornConfig
from ftscope.instruments import sae
from ftscope.instruments.activations import hook_acts
from ftscope.train.models import mistral

TEXTS = ["def add(x, y):\n    x = x + y\n    return x\n" * 3, "local x = 1\nfor i = 1, 10 do x = x + i end\n",
         "Once upon a time, a little cat found a red ball. She was happy.", "The committee met on Tuesday."] * 5


def tiny(seed=0, vocab=300, n_ctx=16):
    return mistral(d_model=32, d_mlp=64, n_heads=2, n_kv_heads=1, d_head=16, n_ctx=n_ctx, d_vocab=vocab, seed=seed)


def test_bpe_round_trip_bos_and_determinism():
    tok = bpe.train_bpe(TEXTS, 300)
    assert bpe.bos_id(tok) == 0 and tok.get_vocab_size() <= 300
    stream = bpe.encode_docs(tok, TEXTS[:2])
    assert stream[0] == 0 and (stream == 0).sum() == 2  # <s> starts each document
    for text in TEXTS[:4]:
        assert tok.decode(tok.encode(text, add_special_tokens=False).ids) == text
    assert bpe.train_bpe(TEXTS, 300).get_vocab() == tok.get_vocab()
    assert bpe.token_strings(tok)[0] == "<s>"


def test_mistral_architecture_and_frozen_zero_biases():
    m = tiny()
    c = m.cfg
    assert (c.normalization_type, c.positional_embedding_type, c.gated_mlp, c.act_fn) == ("RMS", "rotary", True, "silu")
    assert c.n_key_value_heads == 1 and m.W_E.data_ptr() != m.W_U.data_ptr()  # GQA, untied embeddings
    x = torch.randint(0, 300, (3, 16))
    _, cache = m.run_with_cache(x, names_filter=sae.HOOK)
    assert cache[sae.HOOK].shape == (3, 16, 64)
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-2)
    m(x, return_type="loss").backward()
    opt.step()
    biases = [p for n, p in m.named_parameters() if n.split(".")[-1].lstrip("_").startswith("b_")]
    assert biases and all(not p.requires_grad and not p.abs().any() for p in biases)
    with pytest.raises(ValueError, match="multiple"):
        mistral(d_model=32, d_mlp=64, n_heads=3, n_kv_heads=2, d_head=16, n_ctx=8, d_vocab=50, seed=0)


def test_config_presets_and_bad_fields():
    laptop = HornConfig.from_preset("laptop")
    assert laptop.vocab_size == 4096 and laptop.d_sae == 4 * 256 and laptop.sweep_ts[0] == 0 and laptop.sweep_ts[-1] == 1
    assert len(laptop.sweep_ts) == 21
    assert HornConfig.from_preset("paper").d_model == 512
    with pytest.raises(ConfigError, match="valid choices"):
        HornConfig.from_preset("laptop", vocab=10)
    with pytest.raises(ConfigError, match="n_kv_heads"):
        HornConfig.from_preset("laptop", n_kv_heads=3)
    with pytest.raises(ConfigError, match="sweep_step"):
        HornConfig.from_preset("laptop", sweep_step=0.3)
    with pytest.raises(ConfigError, match="valid choices"):
        HornConfig.from_preset("laptop", source="web")


def test_block_sampler_mixes_parts_one_to_one_and_is_seeded():
    a, b = np.zeros(1000, np.uint16), np.ones(1000, np.uint16)
    sample = horn.block_sampler([a, b], 8, 2000)
    x = sample(np.random.default_rng(0))
    assert x.shape == (2000, 8) and x.dtype == torch.int64
    rows_b = (x[:, 0] == 1).float().mean().item()
    assert 0.45 < rows_b < 0.55 and bool(((x == 0).all(1) | (x == 1).all(1)).all())
    assert torch.equal(x, sample(np.random.default_rng(0)))
    with pytest.raises(ValueError, match="too short"):
        horn.block_sampler([a[:5]], 8, 2)


def test_eval_blocks_are_fixed_and_non_overlapping():
    s = np.arange(100, dtype=np.uint16)
    blocks = horn.eval_blocks(s, 3, 10, seed=1)
    assert blocks.shape == (3, 10) and torch.equal(blocks, horn.eval_blocks(s, 3, 10, seed=1))
    assert all(int(r[0]) % 10 == 0 for r in blocks) and len({int(r[0]) for r in blocks}) == 3


def test_evaluate_counts_next_token_hits_over_all_positions():
    class Fixed(torch.nn.Module):  # predicts "next = current + 1"
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return torch.nn.functional.one_hot((x + 1) % 10, 10).float() * 10

    x = torch.tensor([[1, 2, 3, 4], [5, 6, 0, 0]])  # hits: 3 of 3, then 1 of 3
    assert horn.evaluate(Fixed(), x)["acc"] == pytest.approx(4 / 6)


def test_crossing_and_monotone():
    ts = np.array([0, 0.5, 1.0])
    assert horn.crossing(ts, np.array([1.0, 0.6, 0.0]), np.array([0.0, 0.4, 1.0])) == pytest.approx(0.5 + 0.5 * 0.2 / 1.2)
    assert np.isnan(horn.crossing(ts, np.ones(3), np.zeros(3)))
    assert horn.is_monotone([1, 2, 2, 3], True) and not horn.is_monotone([1, 2, 1.9], True)
    assert horn.is_monotone([1, 2, 1.9], True, tol=0.2) and horn.is_monotone([3, 2, 1], False)


def test_short_training_lowers_the_loss_of_the_mistral_model():
    from ftscope.train.loop import OptimConfig, train

    stream = np.tile(np.arange(40, dtype=np.uint16), 50)
    m = tiny(vocab=40)
    log = train(m, horn.block_sampler([stream], 16, 8), horn.lm_loss, 40,
                OptimConfig(lr=1e-2, warmup=0.0), rng=np.random.default_rng(0))
    assert log.rows[-1]["loss"] < 0.5 * log.rows[0]["loss"]


def test_geometric_median_is_robust_to_an_outlier():
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    assert torch.allclose(sae.geometric_median(x), torch.zeros(2), atol=1e-5)
    y = torch.cat([torch.randn(200, 3, generator=torch.Generator().manual_seed(0)) * 0.1, torch.full((1, 3), 1e4)])
    assert torch.linalg.vector_norm(sae.geometric_median(y)) < 0.1  # the mean would be ~50


def test_train_sae_offline_seeded_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    m = tiny(vocab=50)
    rows = np.random.default_rng(0).integers(0, 50, (120, 8))
    kw = dict(d_sae=64, l1=1.0, lr=1e-3, tokens=1280, batch_tokens=128, seed=3, median_rows=16, eval_batches=2)
    s1, met = sae.train_sae(m, rows[:100], rows[100:], **kw)
    s2, _ = sae.train_sae(m, rows[:100], rows[100:], **kw)
    assert torch.equal(s1.W_enc, s2.W_enc)  # SAELens ignores its seed; train_sae seeds torch itself
    s3, _ = sae.train_sae(m, rows[:100], rows[100:], **{**kw, "seed": 4})
    assert not torch.equal(s1.W_enc, s3.W_enc)
    assert set(met) >= {"l0", "explained_variance", "ce_loss_recovered", "dead_fraction"} and met["l0"] > 0
    feats = s1.encode(hook_acts(m, torch.as_tensor(rows[100:])))  # every validation token, read directly
    assert met["dead_fraction"] == pytest.approx(float(((feats > 0).sum(0) == 0).float().mean()))
    assert met["l0"] == pytest.approx(float((feats > 0).sum(1).float().mean()), rel=1e-4)
    assert list(tmp_path.iterdir()) == []  # no output/, checkpoints/ or wandb/ in the working directory
    loaded = sae.load_sae({k: v for k, v in s1.state_dict().items()})
    x = torch.randn(5, 64)
    assert torch.allclose(loaded.encode(x), s1.encode(x))


def test_take_chars_cuts_long_documents_to_the_budget():
    from ftscope.data import Doc

    docs = [Doc("a", "t", "line one\nline two\nline three\n" * 10), Doc("b", "t", "short")]
    taken = take_chars(docs, 20, cut_last=True)
    assert len(taken) == 2 and taken[0].text == "line one\nline two" and taken[1].text == "sho"
    assert take_chars(docs, None, cut_last=True) == docs
    assert [d.id for d in take_chars(docs, 10_000, cut_last=True)] == ["a", "b"]


def test_load_corpora_caches_tokenizer_and_streams(tmp_path, monkeypatch):
    from ftscope.paths import Project

    monkeypatch.setenv("FTSCOPE_CACHE", str(tmp_path / "cache"))
    project = Project(tmp_path)
    cfg = HornConfig.from_preset("smoke", corpus_chars=20_000, tokenizer_chars=10_000, vocab_size=300)
    first = horn.load_corpora(cfg, project)
    saved = list((project.cache / "checkpoints").glob("horn-tokens-*.pt"))
    assert len(saved) == 1
    mtime = saved[0].stat().st_mtime_ns
    again = horn.load_corpora(cfg, project)  # from the cache: nothing trained or written again
    assert list((project.cache / "checkpoints").glob("horn-tokens-*.pt")) == saved
    assert saved[0].stat().st_mtime_ns == mtime
    assert again.digest == first.digest and again.tokenizer.to_str() == first.tokenizer.to_str()
    assert set(first.streams) == set(horn.CORPORA)
    assert all(first.streams[n][s][0] == bpe.bos_id(first.tokenizer) for n in horn.CORPORA for s in ("train", "val"))
    other = horn.load_corpora(cfg.replace(vocab_size=320), project)  # a new tokenizer, cached beside it
    assert other.tokenizer.get_vocab_size() == 320 and len(list((project.cache / "checkpoints").glob("*.pt"))) == 2
