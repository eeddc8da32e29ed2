from dataclasses import dataclass
from typing import ClassVar, Literal

import pytest

from ftscope.config import ChapterConfig, ConfigError, check_device, check_preset, parse_assignments, resolve_device


@dataclass(frozen=True)
class Demo(ChapterConfig):
    steps: int = 1000
    lr: float = 1e-3
    widths: tuple[int, ...] = (4, 8)
    optimizer: Literal["sgd", "adamw"] = "sgd"
    clip: float | None = None
    PRESETS: ClassVar = {"smoke": dict(steps=5), "laptop": dict(steps=50), "paper": {}}


def test_presets_and_single_field_override():
    assert Demo.from_preset("smoke").steps == 5
    assert Demo.from_preset("paper").steps == 1000
    cfg = Demo.from_preset("laptop", lr=1, widths=[1, 2], clip=1)
    assert (cfg.steps, cfg.lr, cfg.widths, cfg.clip) == (50, 1.0, (1, 2), 1.0)
    assert isinstance(cfg.lr, float)


@pytest.mark.parametrize("call, names", [
    (lambda: Demo.from_preset("bogus"), ["'smoke'", "'laptop'", "'paper'"]),
    (lambda: Demo.from_preset("laptop", stepz=3), ["'steps'", "'lr'", "'widths'"]),
    (lambda: Demo.from_preset("laptop", optimizer="adam"), ["'sgd'", "'adamw'"]),
    (lambda: check_device("tpu"), ["'auto'", "'cpu'", "'cuda'"]),
    (lambda: check_preset("full"), ["'smoke'"]),
])
def test_unknown_names_list_the_valid_choices(call, names):
    with pytest.raises(ConfigError) as err:
        call()
    for name in names:
        assert name in str(err.value)


@pytest.mark.parametrize("field, value", [("steps", 1.5), ("steps", True), ("lr", "fast"), ("widths", 3)])
def test_wrong_types_are_rejected(field, value):
    with pytest.raises(ConfigError, match=field):
        Demo.from_preset("laptop", **{field: value})


def test_replace_checks_names():
    cfg = Demo.from_preset("laptop")
    assert cfg.replace(steps=7).steps == 7
    with pytest.raises(ConfigError, match="valid choices"):
        cfg.replace(nope=1)


def test_parse_assignments():
    assert parse_assignments(["lr=1e-3", "widths=[1, 2]", "optimizer=adamw"]) == {
        "lr": 1e-3, "widths": [1, 2], "optimizer": "adamw"}
    with pytest.raises(ConfigError, match="FIELD=VALUE"):
        parse_assignments(["lr"])


def test_devices():
    import torch

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA"):
            resolve_device("cuda")


def test_the_presets_are_smoke_laptop_and_paper_everywhere():
    import importlib
    import pkgutil

    import ftscope
    from ftscope.config import PRESETS

    assert PRESETS == ("smoke", "laptop", "paper")
    for info in pkgutil.walk_packages(ftscope.__path__, "ftscope."):
        if info.name.endswith("__main__"):  # runs the command
            continue
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, ChapterConfig) and obj is not ChapterConfig:
                assert tuple(obj.PRESETS) == PRESETS, f"{obj.__qualname__}.PRESETS has {tuple(obj.PRESETS)}"
                for preset in PRESETS:  # every preset is in range (``config.RULES``)
                    obj.from_preset(preset)
    with pytest.raises(ConfigError, match="unknown preset 'ci'; valid choices: 'smoke', 'laptop', 'paper'"):
        Demo.from_preset("ci")
