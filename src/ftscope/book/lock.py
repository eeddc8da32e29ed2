"""The pinned environment: ``requirements.lock`` (pip-tools, with hashes) and ``environment.yml``.

``make`` installs torch first and alone (``TORCH`` in the Makefile: a CPU build on a CPU machine,
the CUDA build on a GPU one), then every other package from the lock with ``--require-hashes
--no-deps``, then ftscope itself. torch and its CUDA libraries are therefore not in the lock.
``make lock`` refreshes the lock and rewrites ``environment.yml`` from it; tests check that the
lock, ``pyproject.toml``, the Makefile's torch pin and ``environment.yml`` agree.

Run as ``python -m ftscope.book.lock write-env`` (what ``make lock`` does) or ``check``.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

#: packages installed outside the lock (torch by ``make`` first; pip and setuptools belong to the venv)
OUTSIDE_LOCK = ("torch", "pip", "setuptools")


def canonical(name: str) -> str:
    """PEP 503 name: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Pin:
    name: str
    version: str
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)


def parse_lock(text: str) -> dict[str, Pin]:
    """``{canonical name: Pin}`` from a pip-compile output with hashes and annotations."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    in_via = False
    for raw in text.splitlines():
        line = raw.strip()
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", raw)
        if m:
            current = Pin(canonical(m.group(1)), m.group(2))
            if current.name in pins:
                raise ValueError(f"requirements.lock pins {current.name} twice")
            pins[current.name] = current
            in_via = False
        elif current is not None and line.startswith("--hash="):
            current.hashes.append(line.removeprefix("--hash=").rstrip(" \\"))
        elif current is not None and line.startswith("# via"):
            rest = line.removeprefix("# via").strip()
            current.via.extend([rest] if rest else [])
            in_via = not rest
        elif current is not None and in_via and line.startswith("#   "):
            current.via.append(line.removeprefix("#").strip())
        elif not line.startswith("#"):
            in_via = False
    return pins


def direct_requirements(pyproject: Path, extras: tuple[str, ...] = ("dev",)) -> dict[str, str]:
    """``{canonical name: specifier}`` of the project's dependencies and the given extras."""
    project = tomllib.loads(pyproject.read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project.get("optional-dependencies", {}).get(extra, [])
    out = {}
    for req in reqs:
        m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$", req)
        out[canonical(m.group(1))] = m.group(3).strip()
    return out


def makefile_torch(makefile: Path) -> str:
    """The ``TORCH ?= ...`` pin of the Makefile."""
    m = re.search(r"^TORCH\s*\?=\s*(\S+)", makefile.read_text(), re.M)
    if not m:
        raise ValueError(f"{makefile} sets no TORCH ?= pin")
    return m.group(1)


ENV_HEADER = """\
# conda env create -f environment.yml && conda activate ftscope && pip install --no-deps -e .
# Written by `make lock` from requirements.lock (do not edit): the same versions `make` installs,
# torch first (a CPU build on a CPU machine: install it alone before this file if pip would fetch CUDA).
"""


def render_environment(pins: dict[str, Pin], torch: str, python: str = "3.11") -> str:
    lines = [ENV_HEADER, "name: ftscope", "channels:", "  - conda-forge", "dependencies:",
             f"  - python={python}", "  - pip", "  - pip:", f"      - {torch}"]
    lines += [f"      - {p.name}=={p.version}" for p in sorted(pins.values(), key=lambda p: p.name)]
    return "\n".join(lines) + "\n"


def environment_pins(text: str) -> dict[str, str]:
    """``{canonical name: version}`` of the ``name==version`` lines of environment.yml's pip section."""
    out = {}
    for m in re.finditer(r"^\s+-\s+([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)\s*$", text, re.M):
        out[canonical(m.group(1))] = m.group(2)
    return out


def problems(root: Path) -> list[str]:
    """Every way the lock, pyproject.toml, the Makefile and environment.yml disagree (empty: they agree)."""
    from packaging.specifiers import SpecifierSet

    pins = parse_lock((root / "requirements.lock").read_text())
    direct = direct_requirements(root / "pyproject.toml")
    torch = makefile_torch(root / "Makefile")
    out = []
    for name in OUTSIDE_LOCK:
        if name in pins:
            out.append(f"{name} is in requirements.lock; it is installed outside the lock")
    for name, spec in direct.items():
        if name in OUTSIDE_LOCK:
            continue
        if name not in pins:
            out.append(f"{name} ({spec or 'any'}) is a dependency in pyproject.toml but not in requirements.lock")
        elif not SpecifierSet(spec).contains(pins[name].version, prereleases=True):
            out.append(f"requirements.lock pins {name}=={pins[name].version}, pyproject.toml asks {spec}")
    for pin in pins.values():
        if not pin.hashes:
            out.append(f"{pin.name}=={pin.version} has no --hash in requirements.lock")
        if "ftscope (pyproject.toml)" in pin.via and pin.name not in direct:
            out.append(f"requirements.lock says pyproject.toml asks for {pin.name}; it no longer does (make lock)")
    torch_version = torch.split("==", 1)[-1]
    if "torch" in direct and not SpecifierSet(direct["torch"]).contains(torch_version):
        out.append(f"the Makefile's {torch} does not satisfy pyproject.toml's torch{direct['torch']}")
    env_path = root / "environment.yml"
    expected = {name: pin.version for name, pin in pins.items()} | {"torch": torch_version}
    got = environment_pins(env_path.read_text()) if env_path.exists() else {}
    if got != expected:
        diff = sorted(set(got.items()) ^ set(expected.items()))[:5]
        out.append(f"environment.yml does not match requirements.lock + {torch} (e.g. {diff}); run make lock")
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path.cwd()
    if argv[:1] == ["write-env"]:
        pins = parse_lock((root / "requirements.lock").read_text())
        (root / "environment.yml").write_text(render_environment(pins, makefile_torch(root / "Makefile")))
        print(f"environment.yml: {len(pins)} pins + torch")
    elif argv[:1] != ["check"]:
        print("usage: python -m ftscope.book.lock {write-env|check}", file=sys.stderr)
        return 2
    found = problems(root)
    for p in found:
        print(p, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
