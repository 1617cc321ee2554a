"""The sdist and the wheel, built once per run from a clean copy of this source, and the wheel
installed (with the ``desktop`` extra) into a throwaway virtualenv that cannot see the checkout.

Built as a user would: ``python -m build --sdist`` on the copy (npm builds the web app), then the
wheel from the unpacked sdist with no npm on PATH, then ``pip install`` of that wheel from another
directory. The ``make test`` workers share one build through a file lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
# What a fresh clone lacks: generated files, caches, virtualenvs, installed npm packages.
GENERATED = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".venvs",
    "node_modules",
    "dist",
    "build",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".build-stamp",
    "*.db",
)
# llama-cpp-python compiles only when pip's cache lacks its wheel; then portably, as scripts/setup.
CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"


@dataclass(frozen=True)
class Installed:
    sdist: Path
    wheel: Path
    venv: Path  # the wheel installed here, with the desktop extra
    elsewhere: Path  # an empty directory to run the product from

    def env(self, **extra: str) -> dict[str, str]:
        """This environment less anything that would point Python at the checkout."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = os.pathsep.join([str(self.venv / "bin"), env.get("PATH", "")])
        env.update(extra)
        return env


def _copy_source(target: Path) -> None:
    def ignore(directory: str, names: list[str]) -> set[str]:
        ignored = set(GENERATED(directory, names))
        if Path(directory) == ROOT / "src/tokenwire/static":
            ignored.add("app")  # the built web app
        return ignored

    shutil.copytree(ROOT, target, ignore=ignore, symlinks=True)


def _run(
    command: list[str], log: Path, *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> None:
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(command)}\n".encode())
        out.flush()
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    assert done.returncode == 0, f"{command} failed:\n{log.read_text(errors='replace')[-6000:]}"


def _without_npm() -> str:
    """A PATH with the build's own tools and no Node.js: this interpreter's directory only."""
    path = str(Path(sys.executable).parent)
    assert shutil.which("npm", path=path) is None and shutil.which("node", path=path) is None
    return path


def _build_and_install(where: Path) -> Installed:
    log = where / "build.log"
    source, dist, venv, elsewhere = (where / n for n in ("source", "dist", "venv", "elsewhere"))
    elsewhere.mkdir()
    _copy_source(source)
    python = [sys.executable, "-m", "build"]
    _run([*python, "--sdist", "--outdir", str(dist), str(source)], log)
    (sdist,) = dist.glob("tokenwire-*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(where / "unpacked", filter="data")
    (unpacked,) = (where / "unpacked").iterdir()
    env = {**os.environ, "PATH": _without_npm()}
    _run([*python, "--wheel", "--outdir", str(dist), str(unpacked)], log, env=env)
    (wheel,) = dist.glob("tokenwire-*.whl")
    _run([sys.executable, "-m", "venv", str(venv)], log, cwd=elsewhere)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.setdefault("CMAKE_ARGS", CMAKE_ARGS)
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "--quiet"]
    _run([*pip, f"tokenwire[desktop] @ {wheel.as_uri()}"], log, cwd=elsewhere, env=env)
    return Installed(sdist, wheel, venv, elsewhere)


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Installed]:
    # The xdist workers' temporary directories share a parent: the build is done once, there.
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent
    where, record = shared / "packaging", shared / "packaging.json"
    with (shared / "packaging.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            if where.exists():  # a build that failed for the other worker: try again
                shutil.rmtree(where)
            where.mkdir()
            result = _build_and_install(where)
            record.write_text(json.dumps({k: str(v) for k, v in vars(result).items()}))
        fcntl.flock(lock, fcntl.LOCK_UN)
    yield Installed(**{k: Path(v) for k, v in json.loads(record.read_text()).items()})
