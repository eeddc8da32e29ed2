"""Chapter 05's setting: the deletion data sets, document-start windows, the sampler, the twist measures."""

import numpy as np
import pytest
import torch

from ftscope.config import ConfigError
from ftscope.data import stories as world
from ftscope.data import tokenizer as bpe
from ftscope.instruments.generation import sample
from ftscope.jain import stories_analyses as sa
from ftscope.jain import tinystories as ts
from ftscope.train import models


@pytest.fixture(scope="module")
def stories():
    return world.generate_stories(400, seed=3)


@pytest.fixture(scope="module")
def tok(stories):
    return bpe.train_bpe(ts.protocol_texts(stories, "pretrain"), 384)


def tiny(vocab=384, n_ctx=64, seed=0):
    return models.mistral(n_layers=2, d_model=32, n_heads=4, n_kv_heads=4, d_head=8, d_mlp=48, n_ctx=n_ctx,
                          d_vocab=vocab, seed=seed)


def header_features(text: str) -> set[str]:
    first = text.split("\n")[0]
    return {f.strip() for f in first[len("Features:"):].split(",")} if first.startswith("Features:") else set()


def test_protocols_filter_and_relabel(stories):
    twists = [s for s in stories if ts.TWIST in s.features]
    plain = [s for s in stories if ts.TWIST not in s.features]
    assert 0 < len(twists) < len(stories)
    for name in ("F", "F+R", "F+MM", "control"):
        texts = ts.protocol_texts(stories, name)
        assert len(texts) == len(plain)
        assert not any(ts.TWIST in world.detect_features(t) for t in texts)  # no twist in any body
    assert all(ts.TWIST in header_features(t) for t in ts.protocol_texts(stories, "F+R"))
    assert not any(ts.TWIST in header_features(t) for t in ts.protocol_texts(stories, "F"))
    mm = ts.protocol_texts(stories, "F+MM")
    for s, t in zip(plain, mm):  # Foreshadowing's header entry became Twist; the body keeps its foreshadowing
        assert (ts.TWIST in header_features(t)) == (ts.SWAPPED in s.features)
        assert ts.SWAPPED not in header_features(t)
        assert world.detect_features(t) == set(s.features)
    rec = ts.protocol_texts(stories, "recovery")
    assert len(rec) == len(twists) and all(ts.TWIST in world.detect_features(t) for t in rec)
    blind = ts.protocol_texts(stories, "blind")  # every story, body untouched, Twist never in a header
    assert len(blind) == len(stories) and not any(ts.TWIST in header_features(t) for t in blind)
    assert [world.detect_features(t) for t in blind] == [set(s.features) for s in stories]
    assert sum(ts.TWIST in world.detect_features(t) for t in blind) == len(twists)
    with pytest.raises(ConfigError, match="valid choices"):
        ts.protocol_texts(stories, "filter")


def test_windows_start_at_documents(stories, tok):
    stream = bpe.encode_docs(tok, ts.protocol_texts(stories, "pretrain"))
    b = bpe.bos_id(tok)
    batch = ts.doc_sampler(stream, b, 48, 8)(np.random.default_rng(0))
    assert batch.shape == (8, 49) and (batch[:, 0] == b).all()
    again = ts.doc_sampler(stream, b, 48, 8)(np.random.default_rng(0))
    assert torch.equal(batch, again)
    with pytest.raises(ValueError, match="window"):
        ts.doc_starts(stream[:30], b, 48)


def _greedy_alone(model, prompt, n):
    ids = list(prompt)
    for _ in range(n):
        ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
    return ids[len(prompt):]


def test_sampler_cached_and_padded_equals_plain_greedy():
    model = tiny(vocab=50).eval()
    prompts = [[0, 5, 7, 9, 11, 2, 3], [0, 4], [0, 8, 8, 1, 30]]
    got = sample(model, prompts, max_new_tokens=6, temperature=0, batch=3)
    with torch.no_grad():
        want = [_greedy_alone(model, p, 6) for p in prompts]
    assert got == want


def test_the_rotary_decoder_matches_transformer_lens_cache():
    """The plain-torch decoder (Mistral-style models without hooks) and TransformerLens's own key/value
    cache (any model with a hook attached) give the same logits and, from one seed, the same stories; with
    grouped-query attention and biases that are not zero."""
    from transformer_lens.cache.key_value_cache import TransformerLensKeyValueCache

    from ftscope.instruments.generation import RotaryDecoder
    from ftscope.train import models

    model = models.mistral(d_model=48, d_mlp=96, n_heads=4, n_kv_heads=2, d_head=12, n_ctx=64, d_vocab=50,
                           n_layers=2, seed=1).eval()
    gen = torch.Generator().manual_seed(0)
    for p in model.parameters():
        if not p.requires_grad:  # the biases mistral freezes at zero
            p.data.normal_(0, 0.1, generator=gen)
    assert RotaryDecoder.supports(model) and not RotaryDecoder.supports(models.mingpt(
        n_layers=1, n_heads=2, d_model=16, n_ctx=16, d_vocab=10, seed=0))
    toks = torch.tensor([[0, 0, 3, 4, 5], [0, 0, 0, 8, 9], [1, 2, 3, 4, 5]])
    mask = (torch.arange(5)[None] >= torch.tensor([[2], [3], [0]])).long()
    with torch.no_grad():
        decoder, cache = RotaryDecoder(model, mask, 2), TransformerLensKeyValueCache.init_cache(model.cfg, "cpu", 3)
        torch.testing.assert_close(decoder.prefill(toks), model(toks, attention_mask=mask, past_kv_cache=cache)[:, -1])
        nxt, ones = torch.tensor([7, 8, 9]), torch.ones((3, 1), dtype=torch.long)
        torch.testing.assert_close(decoder.step(nxt), model(nxt[:, None], attention_mask=ones, past_kv_cache=cache)[:, -1])
    prompts = [[3, 4, 5, 6, 7], [8, 9], [10, 11, 12, 13, 14, 15, 16, 17]]
    fast = sample(model, prompts, max_new_tokens=30, temperature=1.0, top_k=None, seed=3)
    with model.hooks(fwd_hooks=[("blocks.0.hook_resid_pre", lambda x, hook: x)]):
        assert not RotaryDecoder.supports(model)
        assert sample(model, prompts, max_new_tokens=30, temperature=1.0, top_k=None, seed=3) == fast


def test_sampler_seeded_stops_and_checks():
    model = tiny(vocab=50)
    prompts = [[0, 5, 7], [0, 4, 4, 4]]
    a = sample(model, prompts, max_new_tokens=12, temperature=1.0, top_k=10, seed=7)
    assert a == sample(model, prompts, max_new_tokens=12, temperature=1.0, top_k=10, seed=7)
    assert a != sample(model, prompts, max_new_tokens=12, temperature=1.0, top_k=10, seed=8)
    assert all(len(x) == 12 for x in a)
    # a stop token ends a row's text there, without the token
    stop = a[0][3]
    cut = sample(model, prompts, max_new_tokens=12, temperature=1.0, top_k=10, seed=7, stop_id=stop)
    assert cut[0] == a[0][:a[0].index(stop)]
    assert sample(model, [[0] * 60], max_new_tokens=50, temperature=0)[0].__len__() == 4  # the context (64) caps it
    with pytest.raises(ValueError, match="room in the context"):
        sample(model, [[0] * 64], max_new_tokens=2)
    with pytest.raises(ValueError, match="temperature"):
        sample(model, prompts, max_new_tokens=2, temperature=-1)


def test_generations_and_twist_share(stories, tok):
    prompts = ts.twist_prompts(stories, 3, ask=True)
    assert all(p.endswith("Story: ") and "Twist" in p.split("\n")[0] for p in prompts)
    assert not any("Twist" in p for p in ts.twist_prompts(stories, 3, ask=False))
    gens = ts.generate(tiny(n_ctx=256), tok, prompts, max_new_tokens=8, temperature=1.0, top_k=20, seed=0)
    assert len(gens.texts) == 3 and 0.0 <= gens.share() <= 1.0
    fake = ts.Generations(["p"] * 2, ["Then, to everyone's surprise, the cat could fly.", "They went home."])
    assert fake.share() == 0.5
    with pytest.raises(ValueError, match="have a twist"):
        ts.twist_prompts(stories[:5], 50, ask=True)


def test_wilson_interval():
    lo, hi = ts.wilson(8, 16)
    assert lo == pytest.approx(0.2799, abs=1e-3) and hi == pytest.approx(0.7201, abs=1e-3)
    assert ts.wilson(16, 16)[1] == pytest.approx(1.0) and ts.wilson(0, 16)[0] == pytest.approx(0.0)


def test_story_loss_reads_only_the_story(stories, tok):
    model = tiny(n_ctx=128)
    texts = ts.protocol_texts(stories, "recovery")[:4]
    loss = ts.story_loss(model, tok, texts, 128)
    assert np.isfinite(loss) and loss > 0
    # the header's tokens do not count: a different header with the same body changes nothing up to
    # the context the body's tokens see, so compare against a manual computation on one text
    t = texts[0]
    b = bpe.bos_id(tok)
    head = len(tok.encode(t[: t.index("Story: ") + 7], add_special_tokens=False).ids) + 1
    ids = torch.tensor([[b, *tok.encode(t, add_special_tokens=False).ids][:129]])
    with torch.no_grad():
        nll = torch.nn.functional.cross_entropy(model(ids[:, :-1])[0], ids[0, 1:], reduction="none")
    assert ts.story_loss(model, tok, [t], 128) == pytest.approx(float(nll[head - 1:].mean()), rel=1e-5)


def test_config_presets_and_errors():
    cfg = ts.StoriesConfig.from_preset("laptop")
    assert cfg.reft_evals[0] == 0 and cfg.reft_evals[-1] == cfg.reft_steps
    paper = ts.StoriesConfig.from_preset("paper")
    assert (paper.n_layers, paper.d_model, paper.n_heads, paper.vocab, paper.n_ctx) == (12, 768, 12, 8192, 1024)
    assert paper.delete_lrs == (1e-4, 1e-5) and paper.reft_evals == (0, 30, 300, 3000)
    with pytest.raises(ConfigError, match="reft_evals"):
        ts.StoriesConfig.from_preset("smoke", reft_evals=(0, 3))
    with pytest.raises(ConfigError, match="delete_evals"):
        ts.StoriesConfig.from_preset("smoke", delete_evals=(1, cfg.ft_steps))
    # the authors' sampler and recovery rate at every preset
    for preset in ("smoke", "laptop", "paper"):
        c = ts.StoriesConfig.from_preset(preset)
        assert (c.temperature, c.top_k, c.reft_lr) == (1.0, None, 1e-5)
    assert cfg.n_prompts >= 64 and paper.n_prompts >= 64


def test_each_fine_tuning_seed_has_its_own_prompts_and_sampler():
    cfg = ts.StoriesConfig.from_preset("laptop")
    setting = _setting_held(ts.PROMPT_POOL + 10)
    p0, texts0 = ts.eval_sets(cfg, setting, 0)
    p1, texts1 = ts.eval_sets(cfg, setting, 1)
    assert len(p0) == len(p1) == cfg.n_prompts and not set(p0) & set(p1) and texts0 == texts1
    assert all("Twist" in p.split("\n")[0] for p in p0 + p1)
    with pytest.raises(ConfigError, match="at most"):
        ts.eval_sets(cfg, setting, 40)
    a, b = ts.Run("F", 1e-4, 0), ts.Run("F", 1e-4, 1)
    assert ts.sampling_seed(0, a) != ts.sampling_seed(0, b) == ts.sampling_seed(0, ts.Run("F", 1e-4, 1))
    assert ts.sampling_seed(0, None) == 0
    assert ts.curve_evals(cfg, ts.Run("F+R", 1e-4, 2)) == [0, *cfg.delete_evals]
    assert ts.curve_evals(cfg, ts.Run("F", 1e-4, 0)) == [0]
    assert ts.curve_evals(cfg, ts.Run("F+R", 1e-5, 0)) == [] == ts.curve_evals(cfg, ts.Run("blind", 1e-5, 0))


def _setting_held(n):
    class Held:
        held = world.generate_stories(n, seed=10_000)
    return Held()


def test_parts_are_balanced_and_the_blind_runs_follow_their_pretraining():
    cfg = ts.StoriesConfig.from_preset("laptop")
    runs = ts.all_runs(cfg)
    head = cfg.pretrain_steps * cfg.pretrain_batch / cfg.ft_batch
    parts = ts.balance(cfg, runs, 2, head)
    assert sorted(map(id, (r for p in parts for r in p))) == sorted(map(id, runs))
    assert {r.protocol for r in parts[0][:cfg.seeds]} == {"blind"} and all(r.protocol != "blind" for r in parts[1])
    loads = [sum(ts.run_cost(cfg, r) for r in p) + (head if i == 0 else 0) for i, p in enumerate(parts)]
    assert abs(loads[0] - loads[1]) <= max(ts.run_cost(cfg, r) for r in runs)
    only = ts.balance(cfg, [r for r in runs if r.protocol == "F"], 2, head)
    assert only[0] == [] and len(only) == 2  # the pretraining's part exists even with no run of its own


INSTRUCT = """Features: Dialogue, Twist
Words: jump, kite, shiny
Summary: Lily loses her kite and finds it.
Random sentence: The wind was strong.
Story:

Lily had a shiny kite. "Look!" she said. To everyone's surprise, the kite came back.
<|endoftext|>
Summary: Tom plays with a ball.
Words: run, ball, red
Story:

Tom had a red ball. He liked to run.
<|endoftext|>
Words: sit, cat, soft
Story: a story without a summary is skipped
<|endoftext|>
"""


def test_parse_instruct_reads_the_hub_format():
    got = world.parse_instruct(INSTRUCT)
    assert len(got) == 2
    assert got[0].features == frozenset({"Dialogue", "Twist"}) and got[0].words == ("jump", "kite", "shiny")
    assert got[0].summary == "Lily loses her kite and finds it." and got[0].body.startswith("Lily had a shiny kite.")
    assert "Random sentence" not in world.instruct_text(got[0])
    assert got[1].features == frozenset() and got[1].body == "Tom had a red ball. He liked to run."
    assert world.detect_features(world.instruct_text(got[0])) >= {"Twist", "Dialogue"}


def test_hub_loader_samples_each_file(tmp_path, monkeypatch):
    import huggingface_hub

    files = {}
    for split, n in (("train", 30), ("valid", 6)):
        path = tmp_path / world.HUB_FILES[split]
        path.write_text("".join(f"Summary: story {split} {i}.\nWords: a, b, c\nStory: Body {i}.\n<|endoftext|>\n"
                                for i in range(n)))
        files[world.HUB_FILES[split]] = str(path)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda repo, name, repo_type: files[name])
    train, held = world.hub_instruct_stories(10, 4, seed=1)
    assert len(train) == 10 and len(held) == 4
    assert all("train" in s.summary for s in train) and all("valid" in s.summary for s in held)
    assert [s.summary for s in train] == [s.summary for s in world.hub_instruct_stories(10, 4, seed=1)[0]]
    with pytest.raises(ValueError, match="holds 30 stories"):
        world.hub_instruct_stories(31, 4)


def test_bias_free_multilabel_probe():
    from ftscope.instruments.probing import fit_probe

    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(600, 8))).float() + 3.0  # an offset the bias-free probe must use
    y = torch.stack([x[:, 0] > 3.0, x[:, 1] + x[:, 2] > 6.0, torch.zeros(600, dtype=torch.bool)], 1).long()
    res = fit_probe(x[:400], y[:400], x[400:], y[400:], 3, steps=400, lr=1e-2, rng=np.random.default_rng(0),
                    multilabel=True, bias=False)
    assert res.probe.bias is None and len(res.per_label) == 3
    assert res.per_label[0] > 0.8 and res.per_label[1] > 0.75 and res.per_label[2] > 0.95  # chance: 0.5, 0.5, 1
    assert res.test_accuracy == pytest.approx(np.mean(res.per_label))


def test_pipeline_at_smoke_trains_caches_and_evaluates(tmp_path, monkeypatch):
    monkeypatch.setenv("FTSCOPE_CACHE", str(tmp_path / "cache"))
    cfg = ts.StoriesConfig.from_preset("smoke")
    setting = ts.load_setting(cfg, seed=0)
    assert set(setting.streams) == set(ts.DATASETS) and len(setting.held) == ts.HELD_OUT
    models_, logs = ts.pretrained(cfg, setting, 0, workers=2)
    assert set(models_) == {"base", "control", "blind"} and all(len(log.rows) > 0 for log in logs.values())
    states = ts.finetuned(cfg, setting, 0, workers=2)
    runs = ts.all_runs(cfg)
    assert list(states) == runs and {r.protocol for r in runs} >= {"control", "blind"}
    for run, state in states.items():
        assert [e["step"] for e in state["log"]["evals"]] == list(cfg.reft_evals)
        assert all(0.0 <= e["twist"] <= 1.0 and np.isfinite(e["twist_loss"]) for e in state["log"]["evals"])
        assert all(e["twist_n"] == cfg.n_prompts and e["twist"] == e["twist_k"] / e["twist_n"]
                   for e in state["log"]["evals"])
        assert (state["deleted"] is None) == run.is_control
        if not run.is_control:
            assert [e["step"] for e in state["delete_log"]["evals"]] == ts.curve_evals(cfg, run)
    tie = sa.loss_tie(cfg, setting, states)
    assert len(tie["loss_tie_seeds"]) == cfg.seeds and all(np.isfinite(t) and t > 0 for t in tie["loss_tie_seeds"])
    again = ts.finetuned(cfg, setting, 0)  # from the cache: the same numbers
    assert all(again[r]["log"]["evals"] == states[r]["log"]["evals"] for r in runs)
