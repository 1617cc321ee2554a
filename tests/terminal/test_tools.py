"""Tool calls in ``tokenwire chat``: one line per call once it is complete, one per result, safe
to print, in a terminal and in a pipe; and a turn that ends with calls nobody here can run.

The lines and ``CallLines`` are checked on their own; the session (``Asker``) is driven by the
real ``AsyncClient`` reading canned SSE streams, and shown by the real views.
"""

from __future__ import annotations

import io
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.cells import cell_len
from rich.console import Console

from tests.support.servers import RunningServer, run_server
from tests.support.terminal_pane import Pane, base_env, tokenwire_command
from tests.support.tool_models import PREAMBLE, ToolCallingModel, add_model
from tokenwire.client import AsyncClient
from tokenwire.events import (
    Delta,
    Done,
    Event,
    Payload,
    Reasoning,
    Start,
    ToolCall,
    ToolResult,
    WholeToolCall,
)
from tokenwire.terminal.commands import EXIT_CODES
from tokenwire.terminal.history import print_conversation
from tokenwire.terminal.render import AnswerView, MarkdownStream, PlainStream
from tokenwire.terminal.session import Asker
from tokenwire.terminal.tools import CallLines, call_line, clean, fit, result_line
from tokenwire.wire.sse import encode_events

CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m\nnext\tline\x9b31m\x07\u202eevil\x00"


# --- the lines ------------------------------------------------------------------------------------


def test_clean_takes_out_escape_sequences_and_control_characters() -> None:
    cleaned = clean(HOSTILE)
    assert cleaned == "red next line 31m evil"
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in cleaned)


def test_clean_keeps_text_of_every_script() -> None:
    assert clean("晴れ, 25°C 🌍👩‍💻 ok") == "晴れ, 25°C 🌍👩‍💻 ok"  # the emoji's joiner stays


def test_fit_cuts_to_the_width_in_cells_with_an_ellipsis() -> None:
    assert fit("sunny", 10) == "sunny"
    assert fit("sunny, 25°C and windy", 10) == "sunny, 25…"
    cut = fit("你好世界你好世界", 9)  # two cells a character
    assert cut == "你好世界…" and cell_len(cut) == 9


def test_a_call_line_shows_its_arguments_as_json_on_one_line() -> None:
    call = WholeToolCall("call_1", "get_weather", '{"city":"Paris",\n "unit": "celsius"}')
    assert call_line(call, 80) == '⚙ get_weather({"city": "Paris", "unit": "celsius"})'
    not_json = WholeToolCall("call_2", "search", "weather in Paris")
    assert call_line(not_json, 80) == "⚙ search(weather in Paris)"
    assert call_line(WholeToolCall("c", "now"), 80) == "⚙ now()"


def test_a_long_call_is_cut_to_the_width() -> None:
    call = WholeToolCall("call_1", "write", '{"text": "' + "x" * 5000 + '"}')
    line = call_line(call, 40)
    assert cell_len(line) == 40 and line.startswith('⚙ write({"text": "xxx') and line[-1] == "…"


def test_a_result_line_is_one_line_marked_when_it_is_an_error() -> None:
    assert result_line(ToolResult("c", "sunny, 25°C"), 80) == "→ sunny, 25°C"
    assert result_line(ToolResult("c", "timed out\nafter 5 s", True), 80) == (
        "→ error: timed out after 5 s"
    )
    huge = result_line(ToolResult("c", "data " * 100_000), 60)
    assert cell_len(huge) == 60 and huge.endswith("…")


def test_hostile_names_arguments_and_results_print_no_escapes() -> None:
    call = WholeToolCall("c", HOSTILE, HOSTILE)
    for line in (call_line(call, 200), result_line(ToolResult("c", HOSTILE, True), 200)):
        assert "\x1b" not in line and "\x9b" not in line and "\x07" not in line
        assert "\n" not in line and "\u202e" not in line


# --- when a call is complete ----------------------------------------------------------------------


def names(calls: list[WholeToolCall]) -> list[tuple[str, str]]:
    return [(c.name, c.arguments) for c in calls]


def test_interleaved_calls_are_complete_when_something_else_comes() -> None:
    lines = CallLines()
    assert lines.add(Delta("Let me check.")) == []
    assert lines.add(ToolCall(0, "call_w", "get_weather", '{"city":')) == []
    assert lines.add(ToolCall(1, "call_t", "get_time", '{"tz":')) == []
    assert lines.add(ToolCall(0, arguments=' "Paris"}')) == []
    assert lines.add(ToolCall(1, arguments=' "UTC"}')) == []
    assert names(lines.add(ToolResult("call_w", "sunny"))) == [
        ("get_weather", '{"city": "Paris"}'),
        ("get_time", '{"tz": "UTC"}'),
    ]
    assert lines.add(ToolResult("call_t", "14:02")) == []
    # The model's next turn numbers its calls from 0 again.
    assert lines.add(ToolCall(0, "call_x", "get_weather", "{}")) == []
    assert names(lines.add(Done("tool_calls"))) == [("get_weather", "{}")]


def test_a_new_call_at_the_same_index_completes_the_one_before() -> None:
    lines = CallLines()
    lines.add(ToolCall(0, "call_a", "first", "{}"))
    assert names(lines.add(ToolCall(0, "call_b", "second", "{"))) == [("first", "{}")]
    lines.add(ToolCall(0, arguments="}"))
    assert names(lines.complete()) == [("second", "{}")]
    assert lines.complete() == []


# --- the session: Asker, the client and the views -------------------------------------------------


def canned(payloads: list[Payload]) -> httpx.MockTransport:
    """A server whose ``POST /api/chat`` answers these events, whatever is asked."""
    start: list[Payload] = [Start("str_t", "cnv_t", "msg_t", "tools")]
    body = encode_events([Event.make(seq, p) for seq, p in enumerate(start + payloads, 1)])

    def handle(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "text/event-stream", "x-stream-id": "str_t"}
        return httpx.Response(200, headers=headers, content=body)

    return httpx.MockTransport(handle)


SERVER_RAN_TOOLS: list[Payload] = [
    Reasoning("The user wants the weather."),
    Delta("Let me check."),
    ToolCall(0, "call_w", "get_weather", '{"city":'),
    ToolCall(1, "call_t", "get_time", "{}"),
    ToolCall(0, arguments=' "Paris"}'),
    ToolResult("call_w", "sunny, 25°C"),
    ToolResult("call_t", HOSTILE, is_error=True),
    Delta("Sunny, "),
    Delta("25°C."),
    Done("stop"),
]
CALLER_TOOLS: list[Payload] = [
    Delta("I need tools."),
    ToolCall(0, "call_w", "get_weather", '{"city": "Paris"}'),
    ToolCall(1, "call_t", "\x1b[31mget_time", "{}"),
    Done("tool_calls"),
]


async def ask(payloads: list[Payload], view: AnswerView, notices: Console) -> str:
    async with AsyncClient("http://tokenwire.test", transport=canned(payloads)) as client:
        outcome = await Asker(client, lambda: view, notices).ask("Weather?", None)
    return outcome.status


def plain_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=100, highlight=False), out


async def test_plain_output_keeps_the_answer_and_puts_tool_lines_beside_the_notices() -> None:
    out, notes = io.StringIO(), io.StringIO()
    notices, notices_out = plain_console()
    status = await ask(SERVER_RAN_TOOLS, PlainStream(out, notes, width=60), notices)
    assert status == "complete"
    assert out.getvalue() == "Let me check.\n\nSunny, 25°C.\n"  # the two turns, two paragraphs
    assert notes.getvalue().splitlines() == [
        '⚙ get_weather({"city": "Paris"})',
        "⚙ get_time({})",
        "→ sunny, 25°C",
        "→ error: red next line 31m evil",
    ]
    assert notices_out.getvalue() == ""


async def test_plain_output_on_one_stream_puts_each_tool_line_on_its_own_line() -> None:
    out = io.StringIO()
    notices, _ = plain_console()
    await ask(SERVER_RAN_TOOLS, PlainStream(out), notices)
    assert out.getvalue().splitlines() == [
        "Let me check.",
        '⚙ get_weather({"city": "Paris"})',
        "⚙ get_time({})",
        "→ sunny, 25°C",
        "→ error: red next line 31m evil",
        "",
        "Sunny, 25°C.",
    ]


async def test_the_terminal_view_prints_text_then_calls_then_results_in_stream_order() -> None:
    screen = io.StringIO()
    # Not a terminal: the live region draws nothing, and what is printed for good is left.
    console = Console(file=screen, width=60, force_terminal=False, highlight=False)
    notices, _ = plain_console()
    assert await ask(SERVER_RAN_TOOLS, MarkdownStream(console), notices) == "complete"
    assert [line.rstrip() for line in screen.getvalue().splitlines()] == [
        "The user wants the weather.",
        "",
        "Let me check.",
        "",
        '⚙ get_weather({"city": "Paris"})',
        "⚙ get_time({})",
        "→ sunny, 25°C",
        "→ error: red next line 31m evil",
        "",
        "Sunny, 25°C.",
    ]


async def test_tool_lines_in_a_terminal_are_cut_to_its_width_and_carry_no_escapes() -> None:
    screen = io.StringIO()
    console = Console(file=screen, width=24, force_terminal=True, color_system="truecolor")
    notices, _ = plain_console()
    await ask(SERVER_RAN_TOOLS, MarkdownStream(console), notices)
    written = screen.getvalue()
    for hostile in ("\x1b]0;pwned", "\x1b[2J", "\x9b", "\u202e", "\x07", "\x00"):
        assert hostile not in written
    # What rich adds itself (colours, the live region's cursor moves) taken off, the tool lines:
    lines = [CSI.sub("", line) for line in written.splitlines()]
    tool_lines = [line.rstrip() for line in lines if line.startswith(("⚙", "→"))]
    assert tool_lines == [
        '⚙ get_weather({"city":…',
        "⚙ get_time({})",
        "→ sunny, 25°C",
        "→ error: red next line…",
    ]
    assert all(cell_len(line) <= 24 for line in tool_lines)


async def test_a_turn_ending_in_tool_calls_says_which_tools_this_chat_cannot_run() -> None:
    out, notes = io.StringIO(), io.StringIO()
    notices, notices_out = plain_console()
    status = await ask(CALLER_TOOLS, PlainStream(out, notes), notices)
    assert status == "tool_calls" and EXIT_CODES[status] == 1
    assert out.getvalue() == "I need tools.\n"
    assert notes.getvalue().splitlines() == [
        '⚙ get_weather({"city": "Paris"})',
        "⚙ get_time({})",
    ]
    assert notices_out.getvalue().strip() == (
        "⚙ the model asked for tools this chat cannot run: get_weather, get_time"
    )


async def test_calls_still_streaming_when_the_stream_ends_are_shown() -> None:
    out, notes = io.StringIO(), io.StringIO()
    notices, _ = plain_console()
    cut_short: list[Payload] = [ToolCall(0, "call_w", "get_weather", '{"ci'), Done("cancelled")]
    assert await ask(cut_short, PlainStream(out, notes), notices) == "cancelled"
    assert notes.getvalue() == '⚙ get_weather({"ci)\n'


# --- history --------------------------------------------------------------------------------------

STORED: dict[str, Any] = {
    "title": "Weather?",
    "messages": [
        {"role": "user", "content": "Weather?", "status": "complete"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "status": "complete",
            "tool_calls": [
                {"id": "call_w", "name": "get_weather", "arguments": '{"city":"Paris"}'},
                {"id": "call_t", "name": "get_time", "arguments": "{}"},
            ],
        },
        {"role": "tool", "tool_call_id": "call_w", "content": "sunny", "is_error": False},
        {"role": "tool", "tool_call_id": "call_t", "content": HOSTILE, "is_error": True},
        {"role": "assistant", "content": "Sunny.", "status": "complete"},
    ],
}


@pytest.mark.parametrize("rich", [False, True], ids=["plain", "rich"])
def test_history_shows_stored_calls_and_results_a_line_each(rich: bool) -> None:
    screen = io.StringIO()
    console = Console(file=screen, width=60, highlight=False, no_color=not rich)
    print_conversation(console, STORED, rich=rich)
    assert [line.rstrip() for line in screen.getvalue().splitlines()] == [
        "Weather?",
        "",
        "› Weather?",
        "",
        "Let me check.",
        "",
        '⚙ get_weather({"city": "Paris"})',
        "⚙ get_time({})",
        "→ sunny",
        "→ error: red next line 31m evil",
        "",
        "Sunny.",
    ]


# --- the command, against a real server whose model calls tools ----------------------------------


@pytest.fixture
def tools_server(tmp_path: Path) -> Iterator[RunningServer]:
    with run_server(tmp_path) as running:
        add_model(running, ToolCallingModel())
        yield running


def test_piped_chat_prints_the_answer_and_the_calls_on_stderr(
    tmp_path: Path, tools_server: RunningServer
) -> None:
    command = tokenwire_command("chat", "--url", tools_server.base_url, "-m", "tools", "Weather?")
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=base_env(tmp_path),
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout == PREAMBLE + "\n"
    assert result.stderr.splitlines() == [
        '⚙ get_weather({"city": "Paris", "unit": "celsius"})',
        '⚙ get_time({"tz": "Europe/Paris"})',
        "⚙ the model asked for tools this chat cannot run: get_weather, get_time",
    ]


def test_chat_in_a_terminal_shows_a_line_per_call_and_what_it_cannot_run(
    tmp_path: Path, tools_server: RunningServer
) -> None:
    command = tokenwire_command("chat", "--url", tools_server.base_url, "-m", "tools", "Weather?")
    pane = Pane(tmp_path, command, width=40)
    try:
        assert pane.exit_status() == 1
        shown = [line.rstrip() for line in pane.screen(history=True).splitlines() if line.strip()]
    finally:
        pane.close()
    assert shown[:3] == [
        PREAMBLE,
        '⚙ get_weather({"city": "Paris", "unit":…',  # 40 columns
        '⚙ get_time({"tz": "Europe/Paris"})',
    ]
    assert "⚙ the model asked for tools this chat" in shown[3]
    assert "get_weather, get_time" in " ".join(shown[3:])  # the notice wraps at 40 columns
