"""The pinned environment: requirements.lock, pyproject.toml, the Makefile's torch and environment.yml agree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ftscope.book.lock import canonical, parse_lock, problems, render_environment

ROOT = Path(__file__).resolve().parents[1]
FILES = ("requirements.lock", "pyproject.toml", "Makefile", "environment.yml")


def test_the_repository_agrees():
    assert problems(ROOT) == []
    pins = parse_lock((ROOT / "requirements.lock").read_text())
    assert len(pins) > 100 and all(p.hashes for p in pins.values())
    assert "torch" not in pins and "nvidia-cublas" not in pins  # torch and its CUDA libraries come first, outside
    assert pins["transformer-lens"].version.startswith("3.")  # the pin the guide asks for (<4)


def test_parse_lock_reads_pins_hashes_and_via():
    text = """\
#    make lock
Foo_Bar==1.2.3 \\
    --hash=sha256:aa \\
    --hash=sha256:bb
    # via ftscope (pyproject.toml)
baz==0.1 \\
    --hash=sha256:cc
    # via
    #   foo-bar
    #   ftscope (pyproject.toml)
"""
    pins = parse_lock(text)
    assert set(pins) == {"foo-bar", "baz"}
    assert pins["foo-bar"].version == "1.2.3" and pins["foo-bar"].hashes == ["sha256:aa", "sha256:bb"]
    assert pins["foo-bar"].via == ["ftscope (pyproject.toml)"]
    assert pins["baz"].via == ["foo-bar", "ftscope (pyproject.toml)"]
    assert canonical("Sphinx_Design.x") == "sphinx-design-x"
    with pytest.raises(ValueError, match="twice"):
        parse_lock("a==1 \\\n    --hash=sha256:x\na==2 \\\n    --hash=sha256:y\n")


@pytest.fixture
def copy(tmp_path):
    for name in FILES:
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def _edit(path: Path, old: str, new: str):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_a_new_dependency_without_relocking_is_caught(copy):
    _edit(copy / "pyproject.toml", '"pyyaml>=6",', '"pyyaml>=6",\n    "left-pad-never-locked>=1",')
    assert any("left-pad-never-locked" in p for p in problems(copy))


def test_a_pin_outside_the_specifier_is_caught(copy):
    pin = parse_lock((copy / "requirements.lock").read_text())["tqdm"].version
    _edit(copy / "pyproject.toml", '"tqdm>=4.66"', f'"tqdm>{pin}"')
    assert any("tqdm" in p and "asks" in p for p in problems(copy))


def test_a_dropped_dependency_is_caught(copy):
    _edit(copy / "pyproject.toml", '    "seaborn>=0.13",\n', "")
    assert any("seaborn" in p and "no longer" in p for p in problems(copy))


def test_a_missing_hash_and_torch_in_the_lock_are_caught(copy):
    lock = copy / "requirements.lock"
    lines = lock.read_text().splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith("tqdm=="))
    while lines[i + 1].strip().startswith("--hash"):
        del lines[i + 1]
    lines[i] = lines[i].rstrip(" \\")
    lock.write_text("\n".join(lines + ["torch==2.13.0 \\", "    --hash=sha256:00"]) + "\n")
    found = problems(copy)
    assert any("tqdm" in p and "no --hash" in p for p in found)
    assert any(p.startswith("torch is in requirements.lock") for p in found)


def test_environment_yml_must_follow_the_lock_and_the_makefile(copy):
    _edit(copy / "Makefile", "TORCH  ?= torch==2.13.0", "TORCH  ?= torch==2.12.0")
    assert any("environment.yml" in p for p in problems(copy))
    pins = parse_lock((copy / "requirements.lock").read_text())
    (copy / "environment.yml").write_text(render_environment(pins, "torch==2.12.0"))
    assert problems(copy) == []
