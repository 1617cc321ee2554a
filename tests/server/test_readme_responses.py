"""The README's Responses API example runs as written, against a real server (its address and
model swapped for the test server's)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from tests.support.servers import ANSWER, RunningServer

README = Path(__file__).parents[2] / "README.md"


def test_the_readme_background_responses_example_resumes_the_whole_answer(
    server: RunningServer,
) -> None:
    section = README.read_text(encoding="utf-8").split(
        "### The OpenAI Responses API, in the background", 1
    )[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    code = match.group(1).replace("http://127.0.0.1:8000", server.base_url)
    code = code.replace('"smollm2-135m-instruct"', '"slow"')
    printed = io.StringIO()
    namespace: dict[str, object] = {}
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), namespace)
    assert printed.getvalue() == ANSWER + "\n"
    seen = namespace["seen"]
    assert isinstance(seen, list)
    assert [e.sequence_number for e in seen] == list(range(len(seen)))
    assert seen[-1].type == "response.completed"
