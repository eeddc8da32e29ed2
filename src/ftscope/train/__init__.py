"""Training: the one loop (``train``, ``train_many`` for runs trained together, with ``OptimConfig``, ``TrainLog``), answer-at-one-position
losses and fine-tuning (``answers``), the checkpoint cache and training cells, parts of a grid trained
side by side in single-threaded processes (``parts``), the model builders and seeding."""

from ftscope._exports import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["OptimConfig", "TrainLog", "NonFiniteLoss", "train", "train_many", "lr_multiplier", "make_optimizer", "move",
                     "to_device", "checkpoint_state", "load_trained", "log_steps"], "loop"),
    **dict.fromkeys(["AnswerBatch", "AnswerTests", "accuracy", "answer_logits", "answer_loss", "answer_scores",
                     "finetune", "finetune_many", "labels_of"], "answers"),
    **dict.fromkeys(["cached_state", "checkpoint_path", "spec_hash", "code_digest", "code_parts", "NotCached"], "checkpoints"),
    **dict.fromkeys(["Cell", "Job", "get_together"], "cells"),
    **dict.fromkeys(["run_parts", "split_parts", "usable_workers", "PartFailed"], "parts"),
    **dict.fromkeys(["mingpt", "mistral", "plain_forward", "plain_forward_supported"], "models"),
    "seed_everything": "seeding",
    **dict.fromkeys(["loop", "answers", "checkpoints", "cells", "parts", "models", "seeding"], ""),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
