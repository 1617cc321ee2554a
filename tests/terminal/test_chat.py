"""``tokenwire chat`` and ``tokenwire history`` as real commands: in a terminal that tmux emulates,
and piped. The model is the ``replay`` one, configured through a TOML file."""

from __future__ import annotations

import re
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.terminal_pane import Pane, base_env, tokenwire_command

MARKDOWN_ANSWER = """# Binary search

Split the range in **half** each time, keeping the half that can hold the target.

- sorted input
- logarithmic time

```python
def search(items, target):
    low, high = 0, len(items)
    return low
```

That is all."""

LONG_ANSWER = "\n\n".join(
    [f"Paragraph {i} of the long answer, with enough words to wrap once." for i in range(60)]
    + ["```text\n" + "\n".join(f"code line {i}" for i in range(70)) + "\n```", "The end."]
)

SLOW_ANSWER = " ".join(f"word{i}" for i in range(3000))
STEADY_ANSWER = " ".join(f"w{i}" for i in range(80))  # one token a word, 2 s at 40 a second


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "tokenwire.toml"
    models = {
        "markdown": (MARKDOWN_ANSWER, 400),
        "long": (LONG_ANSWER, 3000),
        "slow": (SLOW_ANSWER, 30),
        "steady": (STEADY_ANSWER, 40),
    }
    tables = "".join(
        f'\n[[models]]\nid = "{name}"\nprovider = "replay"\ntext = """{text}"""\n'
        f"tokens_per_second = {rate}\n"
        for name, (text, rate) in models.items()
    )
    config.write_text(f'database_url = "sqlite:///{tmp_path / "tw.db"}"\n{tables}', "utf-8")
    return config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def panes(tmp_path: Path) -> Iterator[list[Pane]]:
    opened: list[Pane] = []
    yield opened
    for pane in opened:
        pane.close()


def stored(tmp_path: Path) -> list[tuple[str, str, str, str]]:
    """Every stored message: conversation, role, content, status, in order."""
    with sqlite3.connect(tmp_path / "tw.db") as db:
        return list(
            db.execute(
                "SELECT conversation_id, role, content, status FROM messages"
                " ORDER BY created_at, position"
            )
        )


def lines_of(screen: str) -> list[str]:
    return [line.rstrip() for line in screen.splitlines() if line.strip()]


def run(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tokenwire_command(*args),
        input=stdin,
        capture_output=True,
        text=True,
        env=base_env(tmp_path),
        timeout=120,
    )


def test_an_answer_is_rendered_as_markdown_with_code_highlighted(
    tmp_path: Path, config: Path, panes: list[Pane]
) -> None:
    pane = Pane(
        tmp_path,
        tokenwire_command(
            "chat", "--config", str(config), "-m", "markdown", "How does binary search work?"
        ),
    )
    panes.append(pane)
    assert pane.exit_status() == 0
    shown = lines_of(pane.screen(history=True))
    assert "Binary search" in shown[0] and "#" not in shown[0]  # a heading, not its markup
    assert any("Split the range in half each time" in line for line in shown)  # ** rendered
    assert "**" not in "\n".join(shown)
    assert [line.strip() for line in shown if "•" in line] == [
        "• sorted input",
        "• logarithmic time",
    ]
    assert "```" not in "\n".join(shown)
    assert shown[-1].strip() == "That is all."
    # Each line of the answer once: nothing printed twice by the live redraws.
    assert len(shown) == len(set(shown)), shown
    coloured = pane.screen(history=True, colours=True)
    code_line = next(line for line in coloured.splitlines() if "search" in line and "def" in line)
    assert re.search(r"\x1b\[[0-9;]*m\s*def", code_line), "the code block is not highlighted"


def test_an_answer_taller_than_the_screen_is_neither_cut_nor_repeated(
    tmp_path: Path, config: Path, panes: list[Pane]
) -> None:
    pane = Pane(
        tmp_path,
        tokenwire_command("chat", "--config", str(config), "-m", "long", "go"),
        width=80,
        height=20,
    )
    panes.append(pane)
    assert pane.exit_status() == 0
    shown = lines_of(pane.screen(history=True))
    paragraphs = [line for line in shown if line.startswith("Paragraph")]
    assert paragraphs == [
        f"Paragraph {i} of the long answer, with enough words to wrap once." for i in range(60)
    ]
    code = [line.strip() for line in shown if "code line" in line]
    assert code == [f"code line {i}" for i in range(70)], "\n".join(shown)
    assert shown[-1].strip() == "The end."
    assert not any("more lines above" in line for line in shown)


def test_ctrl_c_stops_the_answer_on_the_server_and_keeps_it(
    tmp_path: Path, config: Path, panes: list[Pane]
) -> None:
    pane = Pane(tmp_path, tokenwire_command("chat", "--config", str(config), "-m", "slow"))
    panes.append(pane)
    pane.wait_for("›")
    pane.type("count for me")
    pane.send("Enter")
    pane.wait_for("word20 ")
    pane.send("C-c")
    # Back at the prompt, under the notice.
    screen = pane.wait_for(lambda s: s.rstrip().endswith("the partial answer is stored\n\n›"))
    [(cid, _, question, _), (cid2, _, answer, status)] = stored(tmp_path)
    assert (question, status, cid2) == ("count for me", "cancelled", cid)
    assert SLOW_ANSWER.startswith(answer) and "word20 " in answer
    shown_words = [w for line in lines_of(screen) for w in line.split() if w.startswith("word")]
    assert " ".join(shown_words) == answer.strip(), "what was shown is what is stored"

    # The next question continues the same conversation; arrow up brings back the last one.
    pane.send("Up")
    pane.wait_for("› count for me")
    pane.send("C-c")  # clears the line
    pane.wait_for(lambda s: s.rstrip().endswith("›"))
    pane.type("line one")
    pane.send("Escape", "Enter")  # a new line, not sent
    pane.type("line two")
    pane.send("Enter")
    pane.wait_for(lambda s: "line two" in s and "word5 " in s.split("line two")[-1])
    pane.send("C-c")
    pane.wait_for(lambda s: s.count("the partial answer is stored") == 2)
    messages = stored(tmp_path)
    assert [(m[0], m[1], m[2]) for m in messages[2:3]] == [(cid, "user", "line one\nline two")]
    pane.send("C-d")
    assert pane.exit_status() == 0


def test_ctrl_c_on_a_single_question_stops_it_and_exits_130(
    tmp_path: Path, config: Path, panes: list[Pane]
) -> None:
    pane = Pane(tmp_path, tokenwire_command("chat", "--config", str(config), "-m", "slow", "go"))
    panes.append(pane)
    pane.wait_for("word3 ")
    pane.send("C-c")
    assert pane.exit_status() == 130
    screen = pane.screen()
    assert "the partial answer is stored" in screen and "Traceback" not in screen
    [(_, _, _, _), (_, _, answer, status)] = stored(tmp_path)
    assert status == "cancelled" and "word3 " in answer and SLOW_ANSWER.startswith(answer)


def test_plain_asked_for_on_a_terminal(tmp_path: Path, config: Path, panes: list[Pane]) -> None:
    command = tokenwire_command("chat", "--config", str(config), "-m", "markdown", "--plain", "q")
    pane = Pane(tmp_path, command)
    panes.append(pane)
    assert pane.exit_status() == 0
    assert "# Binary search" in pane.screen() and "```python" in pane.screen()


def test_piped_output_is_plain_text_streamed_as_it_comes(tmp_path: Path, config: Path) -> None:
    command = tokenwire_command("chat", "--config", str(config), "-m", "steady", "count")
    with subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=base_env(tmp_path)
    ) as process:
        assert process.stdout is not None
        first = process.stdout.read1()
        assert first and STEADY_ANSWER.encode().startswith(first)
        assert process.poll() is None, "text arrived while the answer was still streaming"
        rest = process.stdout.read()
        assert process.wait(60) == 0
    assert (first + rest).decode() == STEADY_ANSWER + "\n"


def test_piped_answer_and_stdin_in_the_question(tmp_path: Path, config: Path) -> None:
    result = run(
        tmp_path,
        "chat",
        "--config",
        str(config),
        "-m",
        "markdown",
        "Summarise:",
        stdin="some piped text\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == MARKDOWN_ANSWER + "\n"
    assert "\x1b[" not in result.stdout
    [(cid, _, question, _), (_, _, _, status)] = stored(tmp_path)
    assert question == "Summarise:\n\nsome piped text\n" and status == "complete"

    again = run(tmp_path, "chat", "--config", str(config), "-m", "markdown", "-c", "more")
    assert again.returncode == 0, again.stderr
    assert {m[0] for m in stored(tmp_path)} == {cid}
    other = run(tmp_path, "chat", "--config", str(config), "-m", "markdown", "new topic")
    assert len({m[0] for m in stored(tmp_path)}) == 2
    assert other.returncode == 0
    third = run(tmp_path, "chat", "--config", str(config), "-m", "markdown", "--cid", cid, "x")
    assert third.returncode == 0
    assert [m[0] for m in stored(tmp_path)].count(cid) == 6

    listed = run(tmp_path, "history", "--config", str(config))
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [row[0] for row in rows] == [cid, next(m[0] for m in stored(tmp_path) if m[0] != cid)]
    assert rows[0][2] == "Summarise: some piped text"
    shown = run(tmp_path, "history", "--config", str(config), cid)
    assert shown.stdout.count("› Summarise:") == 1 and shown.stdout.count("That is all.") == 3


def test_mistakes_get_a_clear_message_not_a_traceback(tmp_path: Path, config: Path) -> None:
    cases = [
        (["chat", "--config", str(config), "-m", "nope", "hi"], "model_not_found"),
        (["chat", "--config", str(config), "--cid", "cnv_missing", "hi"], "conversation_not_found"),
        (["chat", "--config", str(config), "-c", "hi"], "no conversation to continue"),
        (["chat", "--config", str(tmp_path / "missing.toml"), "hi"], "cannot read config file"),
        (["chat", "--url", "http://127.0.0.1:9", "hi"], "failed"),
        (["history", "--config", str(config), "cnv_missing"], "conversation_not_found"),
    ]
    for args, message in cases:
        result = run(tmp_path, *args)
        assert result.returncode == 1, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    nothing = run(tmp_path, "chat", "--config", str(config))
    assert nothing.returncode == 2 and "nothing to ask" in nothing.stderr


def test_a_remote_server_through_url(tmp_path: Path) -> None:
    from tests.support.servers import ANSWER, run_server

    with run_server(tmp_path) as server:
        result = run(tmp_path, "chat", "--url", server.base_url, "-m", "slow", "hello")
        assert result.returncode == 0, result.stderr
        assert result.stdout == ANSWER + "\n"
        listed = run(tmp_path, "history", "--url", server.base_url, "--token", "t0k")
        assert listed.returncode == 0 and "\thello" in listed.stdout


def test_a_dropped_connection_resumes_by_itself(tmp_path: Path) -> None:
    from tests.support.proxy import Cut, Proxy
    from tests.support.servers import ANSWER, run_server

    with run_server(tmp_path, retry_ms=20) as server, Proxy(server.base_url, [Cut(400)]) as proxy:
        result = run(tmp_path, "chat", "--url", proxy.base_url, "-m", "slow", "hello")
        assert result.returncode == 0, result.stderr
        assert result.stdout == ANSWER + "\n"  # each piece once, none missing
        assert [r.method for r in proxy.requests] == ["POST", "GET"]
        assert "last-event-id" in proxy.requests[1].headers
