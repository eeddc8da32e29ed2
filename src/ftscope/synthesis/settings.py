"""Chapter 10's settings and its models: chapter 05's story models at the same preset, from the cache.

``LensesConfig`` holds only what the lenses add (SAEs, the merge grid); the models, their data and their
training are chapter 05's (``jain.tinystories.StoriesConfig`` at the same preset), so this chapter reads the
checkpoints chapter 05 wrote and trains no language model. The labels name each model an SAE reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ftscope.config import ChapterConfig, ConfigError
from ftscope.jain import tinystories as ts

PROTOCOL = "F+R"  # the deletion the lenses follow: the one that deletes Twist at every preset of chapter 05
ALSO = "F"  # the gentler deletion, read by the SAE lens on its first seed


@dataclass(frozen=True)
class LensesConfig(ChapterConfig):
    """Chapter 10. The SAE defaults are Horn & Elliott's (lr 1e-4, Adam β 0.9/0.9999, threshold 0.8, a feature
    alive at 5 firings) at an expansion of 8 (theirs: 16, on a 1-layer model); the rest is ours."""

    # the SAE lens (Horn & Elliott's setup on a middle block of the story model)
    sae_expansion: int = 8
    sae_context: int = 128
    sae_tokens: int = 10_000_000
    sae_batch_tokens: int = 4096
    sae_lr: float = 1e-4
    sae_betas: tuple[float, float] = (0.9, 0.9999)
    sae_l1: float = 1.0
    sae_seed: int = 1337  # the base's first SAE; every other SAE has sae_seed + 1 (see features.sae_plan)
    match_threshold: float = 0.8
    min_fires: int = 5
    shared_stories: int = 1000  # held-out stories, half with a twist: the shared token set
    top_stories: int = 20  # a feature's top stories, read by the exact detector
    # the merge lens
    merge_ts: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

    PRESETS: ClassVar = {
        "smoke": dict(sae_expansion=2, sae_context=32, sae_tokens=3840, sae_batch_tokens=192, sae_lr=1e-3,
                      min_fires=2, shared_stories=16, top_stories=4, merge_ts=(0.0, 0.5, 1.0)),
        "laptop": dict(sae_expansion=2, sae_context=64, sae_tokens=100_000, sae_batch_tokens=512, sae_lr=1e-3,
                   sae_l1=3.0, shared_stories=120, merge_ts=(0.0, 0.1, 0.2, 0.3, 0.5, 1.0)),
        "paper": {},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        ts_ = list(self.merge_ts)
        if ts_ != sorted(ts_) or ts_[0] != 0.0 or ts_[-1] != 1.0 or 0.5 not in ts_:
            raise ConfigError(f"merge_ts must rise from 0 to 1 and hold 0.5, got {self.merge_ts}")
        if self.shared_stories < 2 * self.top_stories:
            raise ConfigError(f"shared_stories ({self.shared_stories}) must be at least twice top_stories "
                              f"({self.top_stories})")
        if self.sae_tokens < self.sae_batch_tokens:
            raise ConfigError(f"sae_tokens ({self.sae_tokens}) must be at least one batch ({self.sae_batch_tokens})")


@dataclass
class StoryModels:
    """Chapter 05's setting, its config at this preset, its pretrained models (the base, the "Not in PT" control
    and any other it trains) and every fine-tuning run's state (``ts.finetuned``)."""

    cfg: ts.StoriesConfig
    setting: ts.Setting
    pretrained: dict
    states: dict
    device: object

    def runs(self, protocol: str = PROTOCOL) -> list[ts.Run]:
        """The η_M runs of ``protocol`` (every fine-tuning seed; a control, ``ts.CONTROLS``: its fine-tunes)."""
        lr = self.cfg.reft_lr if protocol in ts.CONTROLS else self.cfg.delete_lrs[0]
        return sorted((r for r in self.states if r.protocol == protocol and r.lr == lr), key=lambda r: r.seed)

    def state(self, run: ts.Run, which: str) -> dict:
        """A run's weights: ``"deleted"`` (after deletion) or ``"model"`` (after reFT; the control's fine-tune)."""
        return self.states[run][which]

    def model(self, run: ts.Run, which: str):
        return self.load(self.state(run, which))

    def load(self, weights: dict):
        from ftscope.train import loop as training

        return training.load_trained(ts.build(self.cfg, 0), weights, self.device)

    @property
    def base(self):
        return self.pretrained["base"]

    def random_init(self, seed: int):
        """A model of the same shape, untrained (the base's initial weights: ``ts.build`` with ``seed``)."""
        return ts.build(self.cfg, seed, self.device).eval()

    def base_state(self) -> dict:
        return {k: v.detach().cpu().clone() for k, v in self.base.state_dict().items()}


def stories_config(preset: str) -> ts.StoriesConfig:
    """Chapter 05's config at ``preset`` (its defaults: the checkpoints chapter 05 wrote)."""
    return ts.StoriesConfig.from_preset(preset)


def story_models(preset: str, seed: int, device) -> StoryModels:
    """Chapter 05's models at ``preset``: read from the cache (chapter 05 trains them; run on its own, this
    chapter trains them as chapter 05 would, with the same cells)."""
    cfg = stories_config(preset)
    setting = ts.load_setting(cfg, seed)
    pretrained, _ = ts.pretrained(cfg, setting, seed, device, workers=2)
    states = ts.finetuned(cfg, setting, seed, device, workers=2)
    return StoryModels(cfg, setting, pretrained, states, device)


BASE, CONTROL = "base", "base, SAE seed 2"
#: the floor's models (never had the capability) and the control's fine-tune (learned Twist anew)
NOT_IN_PT, RANDOM = "Not in PT", "random init"
FLOORS = (NOT_IN_PT, RANDOM)
#: the shared set's stories start here in the held-out list (prompts use its start, probes its end)
SHARED_START = 1000


def hook(cfg: ts.StoriesConfig) -> str:
    """The middle block's MLP activations (block n_layers // 2)."""
    return f"blocks.{cfg.n_layers // 2}.mlp.hook_post"


def deleted_label(protocol: str, seed: int) -> str:
    return f"{protocol} deleted, seed {seed}"


def revived_label(protocol: str, seed: int) -> str:
    return f"{protocol} revived, seed {seed}"


def control_ft_label(seed: int) -> str:
    return f"Not in PT fine-tuned, seed {seed}"
