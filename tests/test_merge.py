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


def test_row_rule_gives_each_output_row_its_own_angle_as_mergekit_0_1_5():
    from ftscope.instruments.merging import _by_rows, slerp, slerp_rows

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    b[2] = 3 * a[2]  # one row parallel to its partner: that row alone falls back to linear
    merged, share = slerp_rows(0.3, a, b)
    for i in range(4):  # each row is the tensor rule applied to that row alone
        torch.testing.assert_close(merged[i], slerp(0.3, a[i], b[i]))
    assert share == pytest.approx(0.25)
    torch.testing.assert_close(merged[2], 0.7 * a[2] + 0.3 * b[2])
    assert not torch.allclose(merged, slerp(0.3, a, b))  # one angle per tensor gives another merge
    torch.testing.assert_close(slerp_rows(0.0, a, b)[0], a)
    torch.testing.assert_close(slerp_rows(1.0, a, b)[0], b)
    vec_a, vec_b = torch.rand(5) + 0.5, torch.rand(5) + 0.5  # a vector: every element a row of its own, linear
    torch.testing.assert_close(slerp_rows(0.4, vec_a, vec_b)[0], 0.6 * vec_a + 0.4 * vec_b)
    w_a, w_b = torch.randn(2, 5, 3, generator=g), torch.randn(2, 5, 3, generator=g)  # W_Q: rows are (head, d_head)
    by_rows, _ = _by_rows(0.5, w_a, w_b, (0, 2))
    for h in range(2):
        for j in range(3):
            torch.testing.assert_close(by_rows[h, :, j], slerp(0.5, w_a[h, :, j], w_b[h, :, j]))


def test_state_dict_merge_by_rows_names_the_rules():
    from ftscope.horn.merging import hf_row_axes
    from ftscope.instruments.merging import slerp_state_dict

    a = {"blocks.0.mlp.W_in": torch.randn(3, 4), "ln_final.w": torch.ones(3)}
    b = {"blocks.0.mlp.W_in": torch.randn(3, 4), "ln_final.w": 2 * torch.ones(3)}
    merged, report = slerp_state_dict(0.5, a, b, rule="row", row_axes=hf_row_axes)
    torch.testing.assert_close(merged["ln_final.w"], 1.5 * torch.ones(3))
    assert report.lerp_fallback["ln_final.w"] == 1.0 and merged["blocks.0.mlp.W_in"].shape == (3, 4)
    with pytest.raises(ValueError, match="'tensor', 'row'"):
        slerp_state_dict(0.5, a, b, rule="rows")
    with pytest.raises(KeyError, match="no output-row layout"):
        hf_row_axes("blocks.0.attn.W_Z")
