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
    path.write_text(json.dumps({"preset": "ci", "device": "cpu", "threads": 2, "peak_gflop_per_s": 200.0,
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
