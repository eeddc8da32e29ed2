"""SLERP merging: mergekit's semantics (unnormalised interpolation, LERP fallback, t=0 is v0)."""

import math

import pytest
import torch

from ftscope.instruments.merging import slerp, slerp_info, slerp_state_dict


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_endpoints():
    a, b = rand(5, 7), rand(5, 7, seed=1)
    assert torch.equal(slerp(0.0, a, b), a)
    assert torch.allclose(slerp(1.0, a, b), b, atol=1e-6)


def test_orthogonal_vectors_follow_the_arc_without_renormalising():
    v0, v1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 4.0])
    mid = slerp(0.5, v0, v1)
    # mergekit weights the unnormalised tensors: sin(π/4)·(v0 + v1)
    assert torch.allclose(mid, math.sin(math.pi / 4) * (v0 + v1), atol=1e-6)
    q = slerp(0.25, v0, v1)
    assert torch.allclose(q, torch.tensor([math.sin(3 * math.pi / 8), 4 * math.sin(math.pi / 8)]), atol=1e-6)


def test_symmetry():
    a, b = rand(3, 4, seed=2), rand(3, 4, seed=3)
    for t in (0.1, 0.35, 0.58, 0.9):
        assert torch.allclose(slerp(t, a, b), slerp(1 - t, b, a), atol=1e-6)


def test_linear_fallback_for_parallel_and_antiparallel():
    a = rand(10, seed=4)
    for b in (2.0 * a + 1e-4 * rand(10, seed=5), -3.0 * a):
        merged, cos, lerp = slerp_info(0.3, a, b)
        assert lerp and abs(cos) > 0.9995
        assert torch.allclose(merged, 0.7 * a + 0.3 * b, atol=1e-6)
    _, _, lerp = slerp_info(0.3, a, rand(10, seed=6))
    assert not lerp


def test_zero_tensors_stay_zero():
    z = torch.zeros(4)
    assert torch.equal(slerp(0.5, z, z), z)


def test_dtype_kept_and_bad_input_rejected():
    a, b = rand(4).half(), rand(4, seed=1).half()
    assert slerp(0.5, a, b).dtype == torch.float16
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        slerp(1.5, a, b)
    with pytest.raises(ValueError, match="shapes"):
        slerp(0.5, rand(4), rand(5))
    with pytest.raises(TypeError, match="floating"):
        slerp(0.5, torch.ones(3, dtype=torch.bool), torch.ones(3, dtype=torch.bool))


def test_state_dict_merge_copies_non_float_buffers():
    base = {"w": rand(3, 3), "mask": torch.tril(torch.ones(3, 3, dtype=torch.bool))}
    other = {"w": rand(3, 3, seed=9), "mask": base["mask"].clone()}
    merged, report = slerp_state_dict(0.58, base, other)
    assert torch.allclose(merged["w"], slerp(0.58, base["w"], other["w"]))
    assert torch.equal(merged["mask"], base["mask"]) and report.copied == ["mask"]
    cos = torch.nn.functional.cosine_similarity(base["w"].flatten(), other["w"].flatten(), dim=0)
    assert set(report.cos) == {"w"} and report.cos["w"] == pytest.approx(float(cos), abs=1e-6)
    assert report.lerp_fallback == {"w": False} and report.fallback_share == 0.0
    with pytest.raises(KeyError, match="differ in keys"):
        slerp_state_dict(0.5, base, {"w": other["w"]})
    with pytest.raises(ValueError, match="mask"):
        slerp_state_dict(0.5, base, {**other, "mask": ~base["mask"]})


def test_params_restricts_what_is_merged_and_fallback_share_counts_merged_tensors():
    g = torch.Generator().manual_seed(3)
    base = {"w": torch.randn(4, 4, generator=g), "same": torch.ones(3), "rot": torch.randn(5, generator=g)}
    other = {"w": torch.randn(4, 4, generator=g), "same": torch.ones(3), "rot": torch.randn(5, generator=g)}
    merged, report = slerp_state_dict(0.5, base, other, params={"w", "same"})
    assert torch.equal(merged["rot"], base["rot"]) and report.copied == ["rot"]  # not a parameter: base's copy
    assert set(report.lerp_fallback) == {"w", "same"}
    assert report.lerp_fallback == {"w": False, "same": True}  # identical tensors: |cos| = 1 -> LERP
    assert report.fallback_share == 0.5
