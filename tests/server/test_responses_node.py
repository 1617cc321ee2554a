"""The official ``openai`` npm package drives /v1/responses on a real server, under Node's test
runner (tests/node_openai/, installed from its lock file by scripts/setup)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.servers import ANSWER, RunningServer

FOLDER = Path(__file__).parents[1] / "node_openai"


def test_the_openai_npm_package_streams_resumes_and_gets_errors(server: RunningServer) -> None:
    env = {**os.environ, "TOKENWIRE_BASE": server.base_url, "TOKENWIRE_ANSWER": ANSWER}
    result = subprocess.run(
        ["node", "--test", "responses.test.mjs"],
        cwd=FOLDER,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 3" in result.stdout and "# fail 0" in result.stdout
