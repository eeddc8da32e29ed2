"""Parts of a grid trained side by side in forked single-threaded processes (``ftscope.train.parts``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ftscope.jain.grid import run_grid
from ftscope.train.loop import TrainLog
from ftscope.train.parts import PartFailed, can_fork, run_parts, split_parts, usable_workers

needs_fork = pytest.mark.skipif(not can_fork(), reason="forked parts need the fork start method (Linux)")


def test_split_parts_cuts_in_order_into_as_few_near_equal_parts_as_allowed():
    assert [len(p) for p in split_parts(list(range(5)), 4)] == [3, 2]
    assert [len(p) for p in split_parts(list(range(18)), 6)] == [6, 6, 6]
    assert [len(p) for p in split_parts(list(range(7)), 2)] == [2, 2, 2, 1]
    assert split_parts(list(range(3)), 64) == [[0, 1, 2]]
    assert split_parts([], 3) == []
    assert sum(split_parts(list(range(23)), 5), []) == list(range(23))
    with pytest.raises(ValueError, match="max_size"):
        split_parts([1, 2], 0)


def test_usable_workers_is_one_on_a_gpu_and_refuses_nonsense():
    assert usable_workers(3, "cuda") == 1
    assert usable_workers(3, "cpu") == (3 if can_fork() else 1)
    with pytest.raises(ValueError, match="workers"):
        usable_workers(0)


@needs_fork
def test_forked_parts_return_in_order_single_threaded_and_see_the_callers_objects():
    weights = torch.arange(6.0)  # reached through the closure: inherited by the fork, not pickled
    before = torch.get_num_threads()

    def fn(part):
        return {"part": part, "sum": float(weights[part].sum()), "threads": torch.get_num_threads()}

    parts = [[0, 1], [2], [3, 4, 5], [1, 5]]
    got = run_parts(fn, parts, workers=2)
    assert [g["part"] for g in got] == parts
    assert [g["sum"] for g in got] == [1.0, 2.0, 12.0, 6.0]
    assert {g["threads"] for g in got} == {1}
    assert torch.get_num_threads() == before  # the caller's threads untouched
    # one part runs here, still with one thread, and the caller's count comes back
    assert run_parts(fn, [[0]], workers=2)[0]["threads"] == 1
    assert torch.get_num_threads() == before
    assert run_parts(fn, [[0]], workers=1)[0]["threads"] == before


@needs_fork
def test_a_failing_part_is_reported_with_its_log():
    def fn(part):
        print(f"training part {part}")
        if part == 2:
            raise RuntimeError("loss is nan at step 7")
        return part

    with pytest.raises(PartFailed, match=r"part 3 of 3 failed(.|\n)*loss is nan at step 7"):
        run_parts(fn, [0, 1, 2], workers=2)
    with pytest.raises(ValueError, match="workers"):
        run_parts(fn, [0], workers=0)


def _fit(jobs):
    """Train one tiny linear model per job together (a batched matmul), as train_many's runs are."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 16, generator=gen)
    w = torch.stack([torch.randn(16, 8, generator=torch.Generator().manual_seed(j["seed"])) for j in jobs])
    w.requires_grad_(True)
    opt = torch.optim.SGD([w], lr=0.1)
    for _ in range(20):
        loss = (torch.einsum("nd,kde->kne", x, w).tanh() ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [(w[k].detach().clone(), TrainLog(), {"norm": float(w[k].norm())}) for k in range(len(jobs))]


@needs_fork
def test_run_grid_numbers_do_not_depend_on_how_many_parts_run_at_once():
    jobs = [{"seed": s} for s in range(6)]
    two = run_grid(jobs, _fit, together=lambda j: "all", max_together=2, workers=2)
    three = run_grid(jobs, _fit, together=lambda j: "all", max_together=2, workers=3)
    assert two.runs.norm.tolist() == three.runs.norm.tolist()
    assert all(torch.equal(two.models[k], three.models[k]) for k in two.models)
    assert np.isfinite(two.runs.norm).all() and two.runs.norm.nunique() == 6
