"""Sparse autoencoders on a TransformerLens hook, trained with SAELens.

``train_sae`` wraps SAELens' ``LanguageModelSAETrainingRunner`` with an in-memory model and a
pre-tokenised in-memory dataset (no hub, no wandb, nothing written to disk), a standard ReLU SAE
(untied encoder and decoder, no pre-encoder bias) and its decoder bias set to the geometric
median of the activations, as Horn & Elliott initialise theirs. Their other choices that
SAELens' standard SAE does not have (unit-norm decoder rows, an L2 term divided by the batch
spread, an L1 over the sequence axis) are named in the chapter. ``run_evals`` gives L0, explained
variance, the share of cross-entropy recovered (with zero ablation of the hook as the floor) and
per-feature firing density, from which the dead fraction follows.

SAELens does not use its config's ``seed``; ``train_sae`` seeds torch itself, so the same seed
gives the same SAE.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import warnings
from typing import Any

import numpy as np
import torch

from ftscope.instruments.activations import HOOK, hook_acts
from ftscope.paths import Project


def geometric_median(x: torch.Tensor, iters: int = 100, tol: float = 1e-6) -> torch.Tensor:
    """The point minimising the summed Euclidean distance to the rows of ``x`` (Weiszfeld)."""
    x = x.double()
    y = x.mean(0)
    for _ in range(iters):
        d = torch.linalg.vector_norm(x - y, dim=1).clamp_min(1e-12)
        w = 1.0 / d
        y_new = (w[:, None] * x).sum(0) / w.sum()
        done = torch.linalg.vector_norm(y_new - y) <= tol * max(1.0, torch.linalg.vector_norm(y).item())
        y = y_new
        if done:
            break
    return y.float()


def _quiet():
    os.environ.setdefault("WANDB_MODE", "disabled")
    os.environ.setdefault("WANDB_SILENT", "true")
    # SAELens warns that an in-memory model and dataset override the config's names: that is the design here
    logging.getLogger("sae_lens").setLevel(logging.ERROR)


def _runner_config(model, *, d_sae: int, l1: float, lr: float, betas, context: int, tokens: int,
                   batch_tokens: int, hook: str, device: str):
    from sae_lens import LanguageModelSAERunnerConfig, LoggingConfig, StandardTrainingSAEConfig

    return LanguageModelSAERunnerConfig(
        sae=StandardTrainingSAEConfig(d_in=model.cfg.d_mlp, d_sae=d_sae, l1_coefficient=l1,
                                      apply_b_dec_to_input=False, normalize_activations="none"),
        model_name="ftscope", hook_name=hook, dataset_path="local", is_dataset_tokenized=True, streaming=False,
        context_size=context, prepend_bos=False, training_tokens=tokens, train_batch_size_tokens=batch_tokens,
        store_batch_size_prompts=32, n_batches_in_buffer=max(32, -(-2 * batch_tokens // context)),
        lr=lr, adam_beta1=betas[0], adam_beta2=betas[1], lr_scheduler_name="constant", lr_warm_up_steps=0,
        device=device, dtype="float32", logger=LoggingConfig(log_to_wandb=False), output_path=None,
        checkpoint_path=None, verbose=False)


def train_sae(model, rows_train: np.ndarray, rows_val: np.ndarray, *, d_sae: int, l1: float, lr: float,
              betas=(0.9, 0.9999), tokens: int, batch_tokens: int, seed: int, hook: str = HOOK,
              median_rows: int = 64, eval_batches: int = 8) -> tuple[Any, dict[str, float]]:
    """Train a standard ReLU SAE on ``hook`` of ``model`` over ``rows_train`` (token blocks);
    return the SAE and its metrics on ``rows_val``."""
    _quiet()
    with warnings.catch_warnings():  # SAELens' notices that a small dataset is read for several epochs
        warnings.filterwarnings("ignore", category=UserWarning, module="sae_lens")
        return _train_sae(model, rows_train, rows_val, d_sae=d_sae, l1=l1, lr=lr, betas=betas, tokens=tokens,
                          batch_tokens=batch_tokens, seed=seed, hook=hook, median_rows=median_rows,
                          eval_batches=eval_batches)


def _train_sae(model, rows_train, rows_val, *, d_sae, l1, lr, betas, tokens, batch_tokens, seed, hook,
               median_rows, eval_batches):
    from datasets import Dataset
    from sae_lens import LanguageModelSAETrainingRunner

    device = str(next(model.parameters()).device)
    context = rows_train.shape[1]
    if tokens < batch_tokens:
        raise ValueError(f"sae tokens ({tokens}) must be at least one batch ({batch_tokens})")
    rc = _runner_config(model, d_sae=d_sae, l1=l1, lr=lr, betas=betas, context=context, tokens=tokens,
                        batch_tokens=batch_tokens, hook=hook, device=device)
    torch.manual_seed(seed)  # SAELens ignores cfg.seed
    runner = LanguageModelSAETrainingRunner(rc, override_dataset=Dataset.from_dict({"tokens": rows_train.tolist()}),
                                            override_model=model)
    sample = torch.as_tensor(rows_train[:median_rows], dtype=torch.long, device=device)
    runner.sae.b_dec.data.copy_(geometric_median(hook_acts(model, sample, hook)).to(runner.sae.b_dec.device))
    with contextlib.redirect_stdout(None):
        sae = runner.run()
    return sae, sae_metrics(sae, model, rc, rows_val, eval_batches)


def sae_metrics(sae, model, runner_cfg, rows_val: np.ndarray, batches: int = 8) -> dict[str, float]:
    """L0, explained variance, CE loss recovered (zero-ablation floor) and dead fraction on ``rows_val``."""
    from datasets import Dataset
    from sae_lens import run_evals
    from sae_lens.evals import EvalConfig
    from sae_lens.training.activation_scaler import ActivationScaler
    from sae_lens.training.activations_store import ActivationsStore

    store = ActivationsStore.from_config(model, runner_cfg,
                                         override_dataset=Dataset.from_dict({"tokens": rows_val.tolist()}))
    batch_prompts = min(32, len(rows_val) // max(1, batches))
    metrics, feats = run_evals(
        sae, store, model, ActivationScaler(), exclude_special_tokens=False,
        eval_config=EvalConfig(batch_size_prompts=max(1, batch_prompts), n_eval_reconstruction_batches=batches,
                               n_eval_sparsity_variance_batches=batches, compute_ce_loss=True,
                               compute_sparsity_metrics=True, compute_variance_metrics=True,
                               compute_featurewise_density_statistics=True))
    density = np.asarray(feats["feature_density"], dtype=float)
    mp = metrics["model_performance_preservation"]
    return {
        "l0": float(metrics["sparsity"]["l0"]),
        "explained_variance": float(metrics["reconstruction_quality"]["explained_variance"]),
        "ce_loss_recovered": float(mp["ce_loss_score"]),
        "ce_clean": float(mp["ce_loss_without_sae"]),
        "ce_with_sae": float(mp["ce_loss_with_sae"]),
        "ce_zero_ablation": float(mp["ce_loss_with_ablation"]),
        "dead_fraction": float(np.mean(density == 0)),
    }


def load_sae(state: dict[str, torch.Tensor], device="cpu"):
    """A standard SAE from ``{W_enc, b_enc, W_dec, b_dec}`` for inference (``sae.encode``)."""
    from sae_lens import StandardSAE, StandardSAEConfig

    d_in, d_sae = state["W_enc"].shape
    sae = StandardSAE(StandardSAEConfig(d_in=d_in, d_sae=d_sae, apply_b_dec_to_input=False, device=str(device)))
    sae.load_state_dict({k: v.to(device) for k, v in state.items()})
    sae.eval()
    return sae


def model_digest(model) -> str:
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def sae_cell(name: str, model, rows_train: np.ndarray, rows_val: np.ndarray, **kw):
    """The training cell of ``train_sae(model, rows_train, rows_val, **kw)``, keyed by the model's weights, the
    data and every setting (a ``train.cells.Cell``; its state holds the SAE's weights and its metrics)."""
    from ftscope.train.cells import Cell

    spec = {"model": model_digest(model), "rows": hashlib.sha256(rows_train.tobytes()).hexdigest()[:16],
            "val": hashlib.sha256(rows_val.tobytes()).hexdigest()[:16],
            **{k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()}}

    def run():
        sae, metrics = train_sae(model, rows_train, rows_val, **kw)
        return {"sae": {k: v.detach().cpu() for k, v in sae.state_dict().items()}, "metrics": metrics}

    return Cell(f"sae-{name}", spec, run)


def cached_sae(name: str, model, rows_train: np.ndarray, rows_val: np.ndarray, *, project: Project | None = None,
               **kw) -> tuple[Any, dict[str, float], bool]:
    """``train_sae`` cached by the model's weights, the data and every setting; ``(sae, metrics, cached)``."""
    state, cached = sae_cell(name, model, rows_train, rows_val, **kw).get(project)
    return load_sae(state["sae"], next(model.parameters()).device), state["metrics"], cached
