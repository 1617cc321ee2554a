"""The contenders' virtualenvs under ``bench/.venvs/`` (gitignored), made once per requirements.

A venv is rebuilt when its requirements file changes; the hash of the file is its stamp.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
VENVS = HERE.parent / ".venvs"


def ensure(name: str) -> Path:
    """The python of venv ``name``, installed from ``requirements-<name>.txt`` if need be."""
    requirements = HERE / f"requirements-{name}.txt"
    venv = VENVS / name
    python = venv / "bin" / "python"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    stamp = venv / f".installed-{digest}"
    if stamp.exists():
        return python
    print(f"[bench] installing the {name} venv (once)", flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-r", str(requirements)], check=True)
    stamp.touch()
    return python
