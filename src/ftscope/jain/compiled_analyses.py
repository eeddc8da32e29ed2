"""The tracr chapters' analyses (Jain et al. 2024, Sec. 5, Table 3, Figs. 10, 27, 55): checking the
compiled models, the fine-tuning grid, attention, pruning, probes and reverse fine-tuning.

Each analysis returns its table and, where the prose and the claims read numbers off it, a dict of
those numbers (``facts``) that the chapter glues (``Chapter.glue_all``) and hands to ``ftscope.jain.claims``.
Functions that draw from the chapter's ``rng`` make the calls the chapter made, in the same order."""

from __future__ import annotations

import copy
import inspect
import math

import numpy as np
import pandas as pd
import torch

from ftscope.instruments.activations import pattern_similarity, residuals
from ftscope.instruments.probing import fit_probe
from ftscope.instruments.pruning import changed_weights, pruning_curve, reset_most_changed
from ftscope.instruments.revival import first_step_reaching, n_faster, n_undecided, revival_table
from ftscope.jain.compiled import TracrConfig, attention_on, counter_batch, max_id_batch, noisy_copy, selector_layer
from ftscope.jain.grid import over_seeds, run_grid, seed_models, seeds_of
from ftscope.jain.tracr import ANSWER_POSITION, BOS, count_tokens, max_identifier
from ftscope.train.answers import (
    AnswerTests,
    accuracy,
    answer_logits,
    answer_scores,
    chance_scores,
    finetune_many,
    two_standard_errors,
)
from ftscope.train.loop import log_steps, move
from ftscope.train.parts import run_parts, split_parts, usable_workers


def label(lr: float, c_tr: float) -> str:
    return f"η={lr:g} C_Tr={c_tr:g}"


# ------------------------------------------------------------------ chapter 1: the compiled models
def program_source() -> str:
    """The two RASP programs' source, as a Markdown code block."""
    return "```python\n" + inspect.getsource(count_tokens) + "\n" + inspect.getsource(max_identifier) + "```"


def model_sizes(programs: dict) -> pd.DataFrame:
    """Input length, blocks, heads, width, (non-zero) parameters and output classes of each compiled program."""
    rows = []
    for name, cp in programs.items():
        params = list(cp.model.parameters())
        rows.append({"program": name, "input length": cp.max_seq_len, "blocks": cp.model.cfg.n_layers,
                     "heads per block": cp.model.cfg.n_heads, "residual width": cp.model.cfg.d_model,
                     "parameters": sum(p.numel() for p in params),
                     "non-zero parameters": int(sum((p != 0).sum() for p in params)), "output classes": cp.n_outputs})
    return pd.DataFrame(rows).set_index("program")


def exactness(cfg: TracrConfig, counter, max_id, rng: np.random.Generator) -> pd.DataFrame:
    """Each compiled model's answer accuracy against a direct computation on ``check_samples`` inputs,
    and whether its whole output equals tracr's own model on the first ``tracr_check_samples``."""
    inputs = [counter_batch(counter, rng, cfg.check_samples, cfg.counter_len, c=0.5),
              max_id_batch(max_id, rng, cfg.check_samples, cfg.max_id_len, c=0.0, k_pt=cfg.max_id_k_pt,
                           k_ft=cfg.max_id_k_ft)]

    def answer_accuracy(cp, batch):
        with torch.no_grad():
            said = cp.output_logits(batch.tokens)[:, ANSWER_POSITION].argmax(-1).cpu()
        return float((said == batch.label_pt).float().mean())

    def agrees_with_tracr(cp, letters):
        return all(cp.run([BOS, *row]) == cp.run_tracr([BOS, *row]) for row in letters[:cfg.tracr_check_samples])

    pairs = list(zip((counter, max_id), inputs))
    return pd.DataFrame({
        "answer accuracy (vs. direct computation)": [answer_accuracy(cp, b) for cp, b in pairs],
        "same output as tracr, every position": [agrees_with_tracr(cp, b.letters) for cp, b in pairs],
    }, index=["Counter", "Max identifier"])


# ------------------------------------------------------------------ chapter 2: fine-tuning
def settings(cfg: TracrConfig, preset: str, device) -> pd.DataFrame:
    return pd.Series({"preset": preset, "fine-tuning steps": cfg.steps, "batch": cfg.batch,
                      "Counter input length": cfg.counter_len,
                      "learning rates": ", ".join(f"{lr:g}" for lr in cfg.counter_lrs),
                      "C_Tr (Counter)": ", ".join(f"{c:g}" for c in cfg.counter_c_trs),
                      "gradient clipping": cfg.grad_clip,
                      "runs": f"{len(cfg.counter_cells) * cfg.seeds} Counter, "
                              f"{len(cfg.max_id_lrs) * cfg.seeds} Max identifier",
                      "trained together (batched)": f"at most {cfg.together} runs a part",
                      "parts at once (single-threaded processes, CPU)": cfg.workers,
                      "device": device.type}, name="setting").to_frame()


def protocol_facts(cfg: TracrConfig) -> dict:
    """The fine-tuning protocol's numbers, as the prose cites them."""
    return {"steps": cfg.steps, "noise_std": cfg.noise_std, "momentum": cfg.momentum, "batch": cfg.batch,
            "warmup": cfg.warmup, "final_lr_ratio": cfg.final_lr_ratio, "grad_clip": cfg.grad_clip,
            "rank_pt": cfg.max_id_k_pt + 1, "rank_ft": cfg.max_id_k_ft + 1, "reft_lr_factor": cfg.reft_lr_factor,
            "probe_steps": cfg.probe_steps, "together": cfg.together, "workers": cfg.workers}


def compiled_models(cfg: TracrConfig, device):
    """The compiled Counter (count a) and Max identifier, on ``device``."""
    counter, max_id = cfg.compile_counter("a"), cfg.compile_max_id()
    for cp in (counter, max_id):
        move(cp.model, device)
    return counter, max_id


#: the models that never counted a, probed and measured beside the fine-tunes as the floor of every "kept" claim
FLOORS = ("b-counter", "random init")


def random_init(model, rng: np.random.Generator):
    """A model of ``model``'s shape that never learned anything: every weight matrix (``W_*``) drawn afresh
    from N(0, (0.8/√d_model)²), TransformerLens's GPT-2 scale, every bias (``b_*``) zero (seeded; drawn
    on the CPU)."""
    out = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    std = 0.8 / math.sqrt(model.cfg.d_model)
    with torch.no_grad():
        for name, p in out.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if leaf.startswith("W_"):
                p.copy_((torch.randn(p.shape, generator=gen) * std).to(p.device))
            elif leaf.startswith("b_"):
                p.zero_()
    return out


def floor_models(cfg: TracrConfig, counter, max_id, seed: int, device) -> dict:
    """The floor of the "kept" claims: models that never counted a. ``b-counter``: the Counter compiled to
    count b (the Scr.+FT start); ``random init``: a random Counter of the compiled one's shape;
    ``random init (Max id)``: a random Max identifier of the compiled one's shape."""
    rng = np.random.default_rng(seed + 35_000)
    b_counter = cfg.compile_counter("b").model
    move(b_counter, device)
    return {"b-counter": b_counter, "random init": random_init(counter.model, rng),
            "random init (Max id)": random_init(max_id.model, rng)}


def test_sets(cfg: TracrConfig, counter, max_id, seed: int, device) -> tuple[AnswerTests, AnswerTests]:
    """The same test sets for every model, at C_Te = 1 and 0: the Counter's, then the Max identifier's."""
    rng = np.random.default_rng(seed + 10_000)
    counter_test = {c: counter_batch(counter, rng, cfg.eval_samples, cfg.counter_len, c).to(device) for c in (1.0, 0.0)}
    max_id_test = {c: max_id_batch(max_id, rng, cfg.eval_samples, cfg.max_id_len, c, cfg.max_id_k_pt,
                                   cfg.max_id_k_ft).to(device) for c in (1.0, 0.0)}
    return AnswerTests.same_prompts(counter_test), AnswerTests.same_prompts(max_id_test)


def job_rng(seed: int, job: dict) -> np.random.Generator:
    """A fine-tuning run's own generator, from the chapter's seed, the run's seed and its cell: the same
    run gets the same numbers whatever else the grid holds and in whatever order it runs."""
    task = 0 if job["task"] == "Counter" else 1
    return np.random.default_rng([seed, job["seed"], task, round(job["lr"] * 1e8), round(job["c_tr"] * 100)])


def finetune_grid(cfg: TracrConfig, counter, max_id, tests: tuple[AnswerTests, AnswerTests], seed: int, device):
    """Table 3's runs, each on ``cfg.seeds`` seeds: a noisy copy of each compiled model fine-tuned on O_FT,
    per (η, C_Tr) of ``counter_cells`` for the Counter, per η of ``max_id_lrs`` (C_Tr = 0) for the Max
    identifier. Returns the grid (task, lr, c_tr, seed, the four accuracies, the chance level of each,
    the training loss of the last 10% of steps and whether it reached ``converged_loss``) and the models
    by (task, lr, c_tr, seed)."""
    def data(task, c_tr):
        if task == "Counter":
            return lambda r: counter_batch(counter, r, cfg.batch, cfg.counter_len, c_tr)
        return lambda r: max_id_batch(max_id, r, cfg.batch, cfg.max_id_len, c_tr, cfg.max_id_k_pt, cfg.max_id_k_ft)

    chance = {"Counter": chance_scores(tests[0]), "Max id": chance_scores(tests[1])}

    def fit(jobs):  # one task's runs, trained together (same architecture)
        task = jobs[0]["task"]
        compiled, test = (counter, tests[0]) if task == "Counter" else (max_id, tests[1])
        rngs = [job_rng(seed, job) for job in jobs]
        models = [noisy_copy(compiled.model, cfg.noise_std, rng) for rng in rngs]
        logs = finetune_many(models, [data(task, job["c_tr"]) for job in jobs], cfg.steps,
                             [cfg.optim(job["lr"]) for job in jobs], rngs, which="ft", device=device,
                             desc=f"{task}: {len(jobs)} runs together")
        return [(model, log, {**answer_scores(model, test), **chance[task], "tail_loss": log.tail_loss(),
                              "converged": log.converged(cfg.converged_loss)}) for model, log in zip(models, logs)]

    jobs = ([{"task": "Counter", "lr": lr, "c_tr": c, "seed": s} for s in range(cfg.seeds) for lr, c in cfg.counter_cells]
            + [{"task": "Max id", "lr": lr, "c_tr": 0.0, "seed": s} for s in range(cfg.seeds) for lr in cfg.max_id_lrs])
    grid = run_grid(jobs, fit, together=lambda job: job["task"], max_together=cfg.together,
                    workers=usable_workers(cfg.workers, device), desc="tracr grid: parts")
    return grid.runs, grid.models


def first_seed(models: dict) -> dict:
    """The models of seed 0, by (task, lr, c_tr): what the figures of one model (Max id's Block 0) and
    the moved-weights table read."""
    return seed_models(models, 0)


def _rows(grid: pd.DataFrame, lr: float, c_tr: float, task: str) -> pd.DataFrame:
    rows = grid[(grid.task == task) & (grid.lr == lr) & (grid.c_tr == c_tr)].sort_values("seed")
    if rows.empty:
        raise KeyError(f"no {task} run at η={lr:g}, C_Tr={c_tr:g} in the grid")
    return rows


def cell(grid: pd.DataFrame, lr: float, c_tr: float, col: str, task: str = "Counter") -> float:
    """One accuracy of the grid: the mean over seeds."""
    return float(_rows(grid, lr, c_tr, task)[col].mean())


def seed_values(grid: pd.DataFrame, lr: float, c_tr: float, col: str, task: str = "Counter") -> list:
    """One value per seed of a cell of the grid (``converged`` gives booleans)."""
    return [v.item() if hasattr(v, "item") else v for v in _rows(grid, lr, c_tr, task)[col]]


def seed_means(grid: pd.DataFrame) -> pd.DataFrame:
    """The grid averaged over seeds, one row per (task, η, C_Tr), with how many seeds converged."""
    num = grid.drop(columns=["seed"]).groupby(["task", "lr", "c_tr"], sort=False)
    return num.mean(numeric_only=True).assign(converged=num.converged.sum().astype(int),
                                              seeds=num.size()).reset_index()


def table3_facts(cfg: TracrConfig, grid: pd.DataFrame) -> dict:
    """The Counter's Table-3 numbers the prose cites (means over seeds), and the chance levels."""
    means = seed_means(grid)
    ctr1 = means[(means.task == "Counter") & (means.c_tr == 1.0)]
    facts = {}
    for lr in cfg.counter_lrs:
        facts[f"ft_cte1_{lr:g}"] = cell(grid, lr, 1.0, "acc_ft_cte1")
        facts[f"ft_cte0_{lr:g}"] = cell(grid, lr, 1.0, "acc_ft_cte0")
    return {**facts, "ctr1_ft_cte1_min": float(ctr1.acc_ft_cte1.min()), "ctr1_ft_cte0_max": float(ctr1.acc_ft_cte0.max()),
            "ctr1_pt_cte0_mean": float(ctr1.acc_pt_cte0.mean()), "ctr1_pt_cte0_max": float(ctr1.acc_pt_cte0.max()),
            "ctr0_lr1_ft_cte0": cell(grid, cfg.counter_lrs[0], 0.0, "acc_ft_cte0"),
            "chance_counter_ft_cte0": float(grid[grid.task == "Counter"].chance_ft_cte0.iloc[0]),
            "chance_counter_pt_cte0": float(grid[grid.task == "Counter"].chance_pt_cte0.iloc[0]),
            "chance_max_id_ft_cte0": float(grid[grid.task == "Max id"].chance_ft_cte0.iloc[0]),
            "n_converged": int(grid.converged.sum()), "n_runs": len(grid), "seeds": cfg.seeds,
            "converged_loss": cfg.converged_loss,
            "max_id_small_loss": float(grid[(grid.task == "Max id") & (grid.lr == min(cfg.max_id_lrs))].tail_loss.mean())}


def table3_with_chance(grid: pd.DataFrame) -> pd.DataFrame:
    """Table 3 as measured: per run, each accuracy's mean over seeds with its range, beside the chance level
    (the best constant answer on the same test set)."""
    out = {}
    for (task, lr, c_tr), rows in grid.groupby(["task", "lr", "c_tr"], sort=False):
        row = {}
        for col, name in (("acc_ft_cte1", "O_FT, C_Te=1"), ("acc_ft_cte0", "O_FT, C_Te=0"),
                          ("acc_pt_cte0", "O_PT, C_Te=0")):
            v = rows[col]
            row[name] = f"{v.mean():.3f} [{v.min():.3f}–{v.max():.3f}]"
            row[f"chance: {name}"] = round(float(rows[col.replace("acc_", "chance_")].iloc[0]), 3)
        out[f"{task} {label(lr, c_tr)}"] = row
    return pd.DataFrame(out).T.rename_axis(f"mean [min–max] over {grid.seed.nunique()} seeds")


def convergence_table(grid: pd.DataFrame) -> pd.DataFrame:
    """Per cell: the training loss of the last 10% of steps, per seed, and how many seeds reached the level."""
    table = grid.pivot_table(index=["task", "lr", "c_tr"], columns="seed", values="tail_loss", sort=False)
    table.columns = [f"loss, seed {s}" for s in table.columns]
    return table.assign(converged=grid.groupby(["task", "lr", "c_tr"], sort=False).converged.sum().astype(int)
                        .astype(str) + f"/{grid.seed.nunique()}").round(4)


def attention_tables(cfg: TracrConfig, counter, max_id, models: dict, tests: tuple[AnswerTests, AnswerTests],
                     floors: dict):
    """Fig. 10: the share of the answer position's attention on a, b and BOS in the Counter's selector
    block, for the compiled and every fine-tuned Counter (one row per seed) and the ``floors``
    (``floor_models``, as seed 0); and the Max identifier's Block-0 similarity to the compiled model, per η
    and seed, with the random Max identifier's as η "random init". Returns (layer, attention, similarity)."""
    batch = tests[0].ask_ft[0.0]
    layer = selector_layer(counter, batch, "a")
    rows = [{"model": "compiled", "lr": 0.0, "c_tr": 0.0, "seed": 0,
             **attention_on(counter.model, batch, layer, ("a", "b", BOS))}]
    rows += [{"model": label(lr, c_tr), "lr": lr, "c_tr": c_tr, "seed": s,
              **attention_on(model, batch, layer, ("a", "b", BOS))}
             for (task, lr, c_tr, s), model in models.items() if task == "Counter"]
    rows += [{"model": name, "lr": 0.0, "c_tr": 0.0, "seed": 0, **attention_on(floors[name], batch, layer, ("a", "b", BOS))}
             for name in FLOORS]
    tokens = tests[1].ask_ft[0.0].tokens
    sorting = pd.DataFrame([{"η": f"η={lr:g}", "seed": s, "similarity": pattern_similarity(model, max_id.model, tokens, 0)}
                            for (task, lr, _, s), model in models.items() if task == "Max id"]
                           + [{"η": "random init", "seed": 0,
                               "similarity": pattern_similarity(floors["random init (Max id)"], max_id.model, tokens, 0)}])
    return layer, pd.DataFrame(rows), sorting


def attention_facts(cfg: TracrConfig, layer: int, attention: pd.DataFrame, sorting: pd.DataFrame) -> dict:
    """Means over seeds for the prose; per-seed lists (``*_seeds``) for the claims."""
    small, medium, large = min(cfg.counter_lrs), cfg.medium_lr, max(cfg.counter_lrs)

    def per_seed(lr, c_tr, col):
        return attention[attention.model == label(lr, c_tr)].sort_values("seed")[col].tolist()

    def sort_seeds(lr):
        return sorting[sorting["η"] == f"η={lr:g}"].sort_values("seed").similarity.tolist()

    def on_a(name):
        return float(attention.loc[attention.model == name, "a"].iloc[0])

    compiled_a = on_a("compiled")
    a_small, a_med, b_med = per_seed(small, 1.0, "a"), per_seed(medium, 0.0, "a"), per_seed(medium, 0.0, "b")
    sort_small, sort_large = sort_seeds(min(cfg.max_id_lrs)), sort_seeds(max(cfg.max_id_lrs))
    sort_floor = float(sorting.loc[sorting["η"] == "random init", "similarity"].iloc[0])
    floor_a = {name: on_a(name) for name in FLOORS}
    facts = {"attn_layer": layer, "attn_a_compiled": compiled_a, "attn_a_small_ctr1": float(np.mean(a_small)),
             "attn_b_medium_ctr0": float(np.mean(b_med)), "attn_a_medium_ctr0": float(np.mean(a_med)),
             "attn_a_large_ctr0": float(np.mean(per_seed(large, 0.0, "a"))),
             "attn_b_large_ctr0": float(np.mean(per_seed(large, 0.0, "b"))),
             "sort_small": float(np.mean(sort_small)), "sort_large": float(np.mean(sort_large)),
             "attn_a_b_counter": floor_a["b-counter"], "attn_a_random": floor_a["random init"],
             "attn_kept_floor": max(floor_a.values()) / compiled_a, "sort_floor": sort_floor}
    seeds = {"attn_kept_seeds": [a / compiled_a for a in a_small], "attn_moves_seeds": [b - a for b, a in zip(b_med, a_med)],
             "sort_small_seeds": sort_small, "sort_large_seeds": sort_large}
    return facts, seeds


def attention_display(attention: pd.DataFrame) -> pd.DataFrame:
    """The attention shares, mean over seeds (the compiled model has one)."""
    means = attention.groupby("model", sort=False)[["a", "b", BOS]].mean()
    return means.rename(columns={"a": "on a", "b": "on b", BOS: "on BOS"}).round(3)


def pruning_sweep(cfg: TracrConfig, counter, models: dict, tests: AnswerTests, seed: int, device) -> pd.DataFrame:
    """App. D, Alg. 3 on the Counters fine-tuned with C_Tr = 1 (and the largest η at C_Tr = 0), of every
    fine-tuning seed (``models`` by (task, lr, c_tr, seed)): zero the top-K weights by grad·weight of the
    count-a loss ("prune"), and, a diagnostic the paper does not run, set the K most-changed weights back
    to their compiled values ("reset"). Both answers on uncorrelated (count a) and correlated (count b)
    test inputs; one row per (seed, model, method, K)."""
    data = counter_batch(counter, np.random.default_rng(seed + 20_000), cfg.prune_batch, cfg.counter_len, 0.0).to(device)
    eligible = {name: None for name, _ in counter.model.named_parameters()}  # every weight is a unit

    def pretraining_loss(m):
        return torch.nn.functional.cross_entropy(answer_logits(m, data), data.label_pt)

    def both_answers(m):
        return {"count a (O_PT)": accuracy(m, tests.ask_pt[0.0], "pt"),
                "count b (O_FT), C_Te=1": accuracy(m, tests.ask_ft[1.0], "ft")}

    rows = []
    for (task, lr, c_tr, s), model in models.items():
        if task == "Counter" and (c_tr == 1.0 or (lr == max(cfg.counter_lrs) and c_tr == 0.0)):
            key = {"seed": s, "model": label(lr, c_tr), "lr": lr, "c_tr": c_tr}
            rows += [{**key, "method": "prune", **row}
                     for row in pruning_curve(model, pretraining_loss, eligible, list(cfg.prune_ks), both_answers)]
            rows += [{**key, "method": "reset", "k": k, **both_answers(reset_most_changed(model, counter.model, k))}
                     for k in cfg.prune_ks]
    return pd.DataFrame(rows)


def pruning_summary(cfg: TracrConfig, pruning: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Count-a accuracy by K and η (C_Tr = 1) for both methods (mean over seeds), and the gains the prose
    cites (means; per seed under ``*_seeds``)."""
    def by_k(frame, method):
        sub = frame[(frame.method == method) & (frame.c_tr == 1.0)]
        return sub.pivot_table(index="k", columns="lr", values="count a (O_PT)", aggfunc="mean")

    def gains(frame):
        pr, rs = by_k(frame, "prune"), by_k(frame, "reset")
        return {"prune_gain_one": float((pr.loc[1] - pr.loc[0]).max()) if 1 in pr.index else float("nan"),
                "prune_gain_any": float((pr.max() - pr.loc[0]).max()), "reset_gain": float((rs.max() - rs.loc[0]).max()),
                "prune_kmax": max(cfg.prune_ks)}

    facts = over_seeds([gains(frame) for _, frame in pruning.groupby("seed", sort=True)])
    table = pd.concat({"zero top-K by grad·weight": by_k(pruning, "prune"),
                       "reset K most-changed": by_k(pruning, "reset")}, axis=1).round(3)
    return table.rename_axis("K (count-a accuracy, C_Te=0, mean over seeds; columns: fine-tuning η, C_Tr=1)"), facts


def moved_weights(cfg: TracrConfig, counter, models: dict) -> tuple[pd.DataFrame, dict]:
    """Per weight tensor, how many weights C_Tr = 1 fine-tuning moved by more than 5σ of the initial noise."""
    small = min(cfg.counter_lrs)
    moved = pd.DataFrame({f"η={lr:g}": changed_weights(models["Counter", lr, 1.0], counter.model, 5 * cfg.noise_std)
                          for lr in cfg.counter_lrs}).astype(int)
    moved = moved[moved.sum(axis=1) > 0].sort_values(f"η={small:g}", ascending=False)
    top = moved.index[0]
    facts = {"moved_small": int(moved[f"η={small:g}"].sum()), "moved_top_tensor": top,
             "moved_top_small": int(moved.loc[top, f"η={small:g}"])}
    return moved.head(8).rename_axis("weights moved > 5σ of the noise (C_Tr=1)"), facts


def probe_sweep(cfg: TracrConfig, counter, models: dict, seed: int, device, floors: dict) -> pd.DataFrame:
    """Def. 1: a linear probe for count(a) on the residual stream at the answer position, before and
    after each block, in the compiled Counter and each Counter fine-tuned with C_Tr = 1, of every
    fine-tuning seed, and in the ``floors`` (``floor_models``: the b-counter and the random Counter), which
    never counted a (the compiled model's and the floors' probes once, under seed 0); one row per (seed,
    model, block)."""
    rng = np.random.default_rng(seed + 30_000)
    data = counter_batch(counter, rng, cfg.probe_samples, cfg.counter_len, 0.0).to(device)
    split = int(0.75 * cfg.probe_samples)
    y = data.label_pt.cpu()
    probed = {(0, "compiled"): counter.model}
    probed.update({(s, f"η={lr:g} C_Tr=1"): models["Counter", lr, 1.0, s]
                   for s in seeds_of(models) for lr in cfg.counter_lrs})
    probed.update({(0, name): floors[name] for name in FLOORS})  # last: the fine-tunes' probes draw as before
    rows = []
    for (s, name), model in probed.items():
        for block, x in residuals(model, data.tokens, ANSWER_POSITION).items():
            res = fit_probe(x[:split].cpu(), y[:split], x[split:].cpu(), y[split:], counter.n_outputs,
                            steps=cfg.probe_steps, lr=cfg.probe_lr, rng=rng, batch=cfg.probe_batch,
                            schedule=cfg.probe_schedule, warmup=cfg.probe_warmup, desc=f"probe {name} {block} seed {s}")
            rows.append({"seed": s, "model": name, "block": block, "accuracy": res.test_accuracy})
    return pd.DataFrame(rows)


def probe_table(probes: pd.DataFrame) -> pd.DataFrame:
    """Probe accuracy by model (rows, in probing order) and block, mean over seeds."""
    return probes.pivot_table(index="model", columns="block", values="accuracy").loc[probes.model.unique()].round(3)


def probe_floor(probes: pd.DataFrame) -> dict:
    """The probe's floor: each model of ``FLOORS``' best-block accuracy, and the larger of the two."""
    best = probes[probes.model.isin(FLOORS)].groupby("model").accuracy.max()
    return {"probe_b_counter": float(best["b-counter"]), "probe_random": float(best["random init"]),
            "probe_floor": float(best.max())}


def probe_facts(cfg: TracrConfig, probes: pd.DataFrame) -> dict:
    """Each C_Tr = 1 model's best-block probe accuracy at the two smallest and two largest η, the worst
    but the largest η's, the compiled's: means over seeds, per seed under ``*_seeds``; the floor
    (``probe_floor``) and two standard errors of an accuracy on the probes' test set (``probe_se2``)."""
    by_lr = sorted(cfg.counter_lrs)
    compiled = float(probes[probes.model == "compiled"].accuracy.max())
    tuned = probes[~probes.model.isin(("compiled", *FLOORS))]

    def one_seed(frame):
        best = frame.groupby("model").accuracy.max()
        return {"probe_small": float(best[f"η={by_lr[0]:g} C_Tr=1"]), "probe_small2": float(best[f"η={by_lr[1]:g} C_Tr=1"]),
                "probe_large2": float(best[f"η={by_lr[-2]:g} C_Tr=1"]), "probe_large": float(best[f"η={by_lr[-1]:g} C_Tr=1"]),
                "probe_worst_but_largest": float(best.drop(f"η={by_lr[-1]:g} C_Tr=1").min()),
                "probe_compiled_best": compiled}

    return (over_seeds([one_seed(frame) for _, frame in tuned.groupby("seed", sort=True)]) | probe_floor(probes)
            | {"probe_se2": two_standard_errors(cfg.probe_samples - int(0.75 * cfg.probe_samples))})


def reft_rng(seed: int, run_seed: int, lr: float, kind: str) -> np.random.Generator:
    """A reFT (or Scr.+FT) run's own generator: the same run gets the same numbers whatever else runs."""
    return np.random.default_rng([seed, run_seed, 50_000, round(lr * 1e8), ("reFT", "Scr.+FT").index(kind)])


def reverse_finetune(cfg: TracrConfig, counter, models: dict, tests: AnswerTests, seed: int,
                     device) -> tuple[dict, dict]:
    """Fig. 27: for every fine-tuning seed and η, reFT of the C_Tr = 1 model on count a at
    η·``reft_lr_factor``, and, for every η but the largest, its baseline Scr.+FT (a model compiled to count
    b, noised, trained the same way). The largest η's reFT is Fig. 43's: the paper finds it fails. The runs
    are trained together in parts of ``cfg.together``, ``cfg.workers`` parts at once. Returns (reFT logs,
    Scr.+FT logs), both by (fine-tuning η, seed)."""
    eval_at = log_steps(cfg.reft_steps, cfg.reft_evals)
    data = lambda r: counter_batch(counter, r, cfg.batch, cfg.counter_len, 0.0)  # noqa: E731
    count_a = lambda m: {"count a": accuracy(m, tests.ask_pt[0.0], "pt")}  # noqa: E731
    counts_b = cfg.compile_counter("b")
    runs = [(kind, lr, s) for s in seeds_of(models) for lr in sorted(cfg.counter_lrs) for kind in ("reFT", "Scr.+FT")
            if kind == "reFT" or lr != max(cfg.counter_lrs)]

    def fit(part):  # the part's runs trained together; each starts from its own model and generator
        rngs = [reft_rng(seed, s, lr, kind) for kind, lr, s in part]
        starts = [copy.deepcopy(models["Counter", lr, 1.0, s]) if kind == "reFT"
                  else noisy_copy(counts_b.model, cfg.noise_std, rng) for (kind, lr, s), rng in zip(part, rngs)]
        return finetune_many(starts, [data] * len(part), cfg.reft_steps, [cfg.optim(lr * cfg.reft_lr_factor) for _, lr, _ in part],
                             rngs, which="pt", evaluate=count_a, eval_at=eval_at, device=device,
                             desc=f"reFT and Scr.+FT: {len(part)} runs together")

    parts = split_parts(runs, cfg.together)
    logs = [log for part_logs in run_parts(fit, parts, usable_workers(cfg.workers, device), desc="reFT: parts")
            for log in part_logs]
    reft = {(lr, s): log for (kind, lr, s), log in zip(runs, logs) if kind == "reFT"}
    scratch = {(lr, s): log for (kind, lr, s), log in zip(runs, logs) if kind == "Scr.+FT"}
    return reft, scratch


def reft_summary(cfg: TracrConfig, reft: dict, scratch: dict) -> tuple[pd.DataFrame, dict]:
    """Steps to ``reft_level`` count-a accuracy for reFT and Scr.+FT, and the speed-up, by fine-tuning η
    but the largest (seed 0's table); how many of those η revive at least twice as fast as Scr.+FT; and
    whether reFT after the largest η fails within the budget while one after a smaller η revives (Fig.
    43), per seed under ``*_seeds``."""
    largest = max(cfg.counter_lrs)

    def one_seed(s):
        pairs = {lr: log for (lr, k), log in reft.items() if k == s and lr != largest}
        table = revival_table(pairs, {lr: scratch[lr, s] for lr in pairs}, "count a", dict.fromkeys(pairs, cfg.reft_level),
                              cfg.reft_steps, "fine-tuning η")
        large_steps = float(first_step_reaching(reft[largest, s].evals, "count a", cfg.reft_level))
        return table, {"reft_n_faster": n_faster(table), "reft_n": len(table), "reft_n_undecided": n_undecided(table),
                       "reft_share_faster": n_faster(table) / len(table), "reft_level": cfg.reft_level,
                       "reft_budget": cfg.reft_steps, "reft_large_fails": bool(np.isinf(large_steps)),
                       "reft_large_steps": large_steps,
                       "reft_small_revived": bool(np.isfinite(table["reFT steps"]).any())}

    results = [one_seed(s) for s in seeds_of(reft)]
    table = results[0][0]
    facts = over_seeds([r[1] for r in results]) | {"reft_large_lr": largest}
    return table.assign(**{"reFT η": table.index * cfg.reft_lr_factor}), facts
