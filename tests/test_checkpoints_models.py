import torch

import ftscope.train.loop
from ftscope.paths import Project
from ftscope.train.checkpoints import cached_state, spec_hash
from ftscope.train.models import mingpt


def test_checkpoint_is_trained_once_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("FTSCOPE_CACHE", str(tmp_path / "cache"))
    project = Project(tmp_path)
    calls = []

    def train():
        calls.append(1)
        return {"w": torch.arange(3.0), "steps": 7}

    spec = {"prior": "low", "steps": 7, "seed": 0}
    state, was_cached = cached_state("pt", spec, train, depends_on=[ftscope.train.loop], project=project, echo=print)
    assert not was_cached and len(calls) == 1
    state2, was_cached = cached_state("pt", spec, train, depends_on=[ftscope.train.loop], project=project, echo=print)
    assert was_cached and len(calls) == 1 and torch.equal(state2["w"], state["w"]) and state2["steps"] == 7
    _, was_cached = cached_state("pt", {**spec, "seed": 1}, train, project=project, echo=print)
    assert not was_cached and len(calls) == 2  # another spec, another checkpoint


def test_spec_hash_depends_on_code():
    assert spec_hash({"a": 1}) == spec_hash({"a": 1})
    assert spec_hash({"a": 1}) != spec_hash({"a": 2})
    assert spec_hash({"a": 1}) != spec_hash({"a": 1}, [ftscope.train.loop])
    assert spec_hash({"a": 1}, [ftscope.train.loop.train]) != spec_hash({"a": 1}, [ftscope.train.loop.lr_multiplier])
    assert spec_hash({"a": 1}, [ftscope.train.loop.train]) == spec_hash({"a": 1}, [ftscope.train.loop.train])


def test_mingpt_is_causal_seeded_and_hooked():
    m1 = mingpt(n_layers=2, n_heads=2, d_model=16, n_ctx=8, d_vocab=11, seed=0)
    m2 = mingpt(n_layers=2, n_heads=2, d_model=16, n_ctx=8, d_vocab=11, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    tokens = torch.randint(0, 11, (1, 8))
    changed = tokens.clone()
    changed[0, -1] = (changed[0, -1] + 1) % 11
    with torch.no_grad():
        a, b = m1(tokens), m1(changed)
    assert torch.allclose(a[0, :-1], b[0, :-1])  # earlier positions do not see the last token
    assert "blocks.1.mlp.hook_post" in m1.hook_dict
