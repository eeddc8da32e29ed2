"""``ftscope bench``: the FLOP count, the peak and the status page's table (the full benchmark is
measured by ``make book``, not here)."""

import json

import pytest

from ftscope.book.bench import LoopTiming, bench_table, matmul_peak, transformer_flops_per_token
from ftscope.book.cli import main
from ftscope.train.models import mingpt


def test_flops_per_token_counts_the_matmuls_and_the_attention():
    model = mingpt(n_layers=2, n_heads=4, d_model=16, n_ctx=10, d_vocab=7, seed=0)
    d, mlp = 16, 64
    per_layer = 4 * d * d + 2 * d * mlp  # Q, K, V, O and the MLP's two matrices
    expected = 6 * (2 * per_layer + d * 7) + 12 * 2 * 10 * 4 * 4
    assert transformer_flops_per_token(model) == expected


def test_the_peak_is_a_positive_rate():
    assert matmul_peak("cpu", n=256, repeats=2) > 0


def test_the_status_table_shows_each_loop_and_its_share(tmp_path):
    path = tmp_path / "bench.json"
    assert "ftscope bench" in bench_table(path)
    row = LoopTiming("PCFG fine-tuning", "04", 3, 2.0, 1000.0, 50.0, 0.25, "train_many")
    path.write_text(json.dumps({"preset": "laptop", "device": "cpu", "threads": 2, "peak_gflop_per_s": 200.0,
                                "when": "now", "loops": [row.__dict__]}))
    table = bench_table(path)
    assert "200 GFLOP/s" in table and "| PCFG fine-tuning | 04 | 3 | 2.00 | 1,000 | 50.0 | 25.0% | train_many |" in table


def test_an_unknown_preset_or_device_names_the_choices(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--preset", "huge"])
    assert "smoke" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "--device", "tpu"])
    assert "cuda" in capsys.readouterr().err


def test_work_counts_flops_and_takes_the_longer_of_compute_and_the_step_floor():
    from ftscope.book.bench import Work

    w = Work("04", "grid", runs=3, steps=100, tokens=1000, flops_per_token=1e6, params=10, activation_floats=5)
    assert w.flops == 3 * 100 * 1000 * 1e6
    assert w.seconds(peak_tflops=1.0, utilisation=0.5, floor_s=0.0) == pytest.approx(3 * 100 * 1e9 / 0.5e12)
    assert w.seconds(peak_tflops=1e6, utilisation=0.5, floor_s=0.01) == pytest.approx(3 * 100 * 0.01)
    assert w.memory_bytes == 10 * 16 + 4 * 5


def test_plan_writes_every_training_and_the_status_table_sums_them_by_chapter(tmp_path):
    from ftscope.book.bench import Work, plan, plan_path, plan_table
    from ftscope.paths import Project

    project = Project(tmp_path)
    assert "ftscope plan" in plan_table(plan_path(project, "paper"))
    works = lambda preset: [Work("03", "pretraining", 4, 1000, 512, 1e7, 3_000_000, 1e6),  # noqa: E731
                            Work("04", "grid", 30, 100, 256, 1e7, 3_000_000, 2e6),
                            Work("04", "reFT", 5, 100, 256, 1e7, 3_000_000, 2e6)]
    out = plan(project, works, "paper", echo=lambda _: None)
    assert [r["what"] for r in out["works"]] == ["pretraining", "grid", "reFT"]
    table = plan_table(plan_path(project, "paper"), {"04": 600.0})
    row = next(line for line in table.splitlines() if line.startswith("| 04 "))
    assert "grid (30 × 100 steps); reFT (5 × 100 steps)" in row and f"{35 * 100 * 256 * 1e7:.2e}" in row
    assert row.endswith("| 10 min |") and "3,000,000 params" in row
    with pytest.raises(ValueError, match="utilisation"):
        plan(project, works, "paper", utilisation=1.5)
    with pytest.raises(Exception, match="smoke"):
        plan(project, works, "huge")


def test_each_papers_plan_counts_its_chapters():
    from ftscope.horn.bench import works as horn_works
    from ftscope.jain.bench import works as jain_works
    from ftscope.zhang.bench import works as zhang_works

    works = [*jain_works("smoke"), *zhang_works("smoke"), *horn_works("smoke")]
    assert {w.chapter for w in works} == {"02", "03", "04", "05", "06", "07", "08", "09"}
    assert all(w.flops > 0 and w.memory_bytes > 0 for w in works)
    from ftscope.jain.tinystories import StoriesConfig, deletion_runs

    # chapter 5: three pretrainings (the base and two controls), every deletion, a reFT or a control's each
    cfg = StoriesConfig.from_preset("smoke")
    assert [w.runs for w in works if w.chapter == "05"] == [3, len(deletion_runs(cfg)),
                                                             len(deletion_runs(cfg)) + 2 * cfg.seeds]


def test_chapter_7s_plan_counts_every_arm_and_the_capacity_arms_epochs():
    from ftscope.zhang import setting as S
    from ftscope.zhang.arms import ArmsConfig
    from ftscope.zhang.bench import works as zhang_works

    cfg = ArmsConfig.from_preset("paper")
    seven = {w.what: w for w in zhang_works("paper") if w.chapter == "07"}
    epoch = -(-cfg.ft_docs // cfg.ft_batch)
    assert seven["capacity: LoRA ranks, to convergence"].runs == len(cfg.ranks) * cfg.seeds
    assert seven["capacity: all the weights, to convergence"].steps == cfg.capacity_epochs * epoch
    assert seven["data: 10,000 documents"].steps == -(-10_000 // cfg.ft_batch)
    assert seven["mixing: 50% replay"].steps == epoch  # replay in place of bio documents: the same steps
    # the LoRA grid counts the rates it may add past an edge (grid_extra), as a plan's upper bound
    assert sum(w.runs for w in seven.values()) == (len(cfg.lora_lr_factors) + cfg.grid_extra
                                                   + (len(cfg.ranks) + 1) * cfg.seeds
                                                   + (len(cfg.sizes) - 1 + 2 + len(cfg.mixes) - 1) * cfg.seeds)
    six = {w.what: w for w in zhang_works("paper") if w.chapter == "06"}
    zc = S.ZhangConfig.from_preset("paper")
    grid = six["fine-tuning: the learning-rate grid and the other seeds"]
    assert grid.runs == len(zc.lr_grid) + zc.lr_extend + zc.seeds - 1


def test_plan_refuses_a_bad_utilisation_before_any_work(capsys):
    assert main(["plan", "--utilisation", "2"]) == 2
    assert "(0, 1]" in capsys.readouterr().err


def test_a_smoke_bench_leaves_the_laptop_benchmark_the_status_page_shows(tmp_path, monkeypatch):
    from ftscope.book import bench as bench_mod
    from ftscope.paths import Project

    project = Project(tmp_path)
    monkeypatch.setattr(bench_mod, "matmul_peak", lambda device: 100.0)
    laptop = bench_mod.bench(project, lambda preset, dev: [], preset="laptop", device="cpu", echo=lambda _: None)
    bench_mod.bench(project, lambda preset, dev: [], preset="smoke", device="cpu", echo=lambda _: None)
    assert bench_mod.bench_path(project, "laptop") != bench_mod.bench_path(project, "smoke")
    assert json.loads(bench_mod.bench_path(project, "laptop").read_text()) == laptop
    assert json.loads(bench_mod.bench_path(project, "smoke").read_text())["preset"] == "smoke"
    from ftscope.book.report import status_markdown

    (project.root / "notebooks").mkdir()
    for preset in ("smoke", "laptop"):  # each preset's status page shows its own benchmark
        assert f"preset `{preset}`" in status_markdown(project, preset)
