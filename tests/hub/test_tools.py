"""Server-side tools on their own: schemas from signatures, arguments checked against them, what a
run answers whatever the function does; and the history fitting that keeps calls with results."""

from __future__ import annotations

import asyncio
import threading
from typing import Annotated, Any, Literal, Optional

import pytest

from tests.support import tool_functions as tf
from tokenwire.config import ConfigError, ModelConfig, Settings, ToolConfig
from tokenwire.events import Delta, Done, ToolCall, ToolResult, Usage
from tokenwire.hub.generation import after_first_step, last_step
from tokenwire.hub.hub import fit_history, fit_turn
from tokenwire.hub.schema import argument_problem, parameters_from_signature, schema_problem
from tokenwire.hub.tools import ServerTool, model_tools
from tokenwire.providers.base import GenerationParams
from tokenwire.providers.replay import ReplayProvider


def typed(
    city: str,
    days: int,
    ratio: float,
    metric: bool,
    tags: list[str],
    extra: dict[str, Any],
    unit: Literal["C", "F"] = "C",
    note: Optional[str] = None,  # noqa: UP045 - the spelling under test
    level: int | None = None,
    why: Annotated[str, "a reason"] = "",
    anything=None,  # type: ignore[no-untyped-def]
) -> None:
    """Plan a trip."""


def test_parameters_come_from_the_type_hints() -> None:
    assert parameters_from_signature(typed, "typed") == {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "ratio": {"type": "number"},
            "metric": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "extra": {"type": "object"},
            "unit": {"enum": ["C", "F"], "type": "string"},
            "note": {"type": ["string", "null"]},
            "level": {"type": ["integer", "null"]},
            "why": {"type": "string", "description": "a reason"},
            "anything": {},
        },
        "required": ["city", "days", "ratio", "metric", "tags", "extra"],
        "additionalProperties": False,
    }


def test_kwargs_allow_other_names() -> None:
    def loose(a: str, **rest: Any) -> None: ...

    assert parameters_from_signature(loose, "loose")["additionalProperties"] is True


@pytest.mark.parametrize(
    ("function", "complaint"),
    [
        (lambda *args: None, "cannot be passed by name"),
        (lambda a, /: None, "cannot be passed by name"),
    ],
)
def test_what_has_no_schema_is_a_config_error(function: Any, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        parameters_from_signature(function, "bad")


def test_a_type_without_a_json_schema_is_a_config_error() -> None:
    def takes_a_set(values: set[int]) -> None: ...

    with pytest.raises(ConfigError, match=r"parameter 'values'.*give `parameters`"):
        parameters_from_signature(takes_a_set, "takes_a_set")


SCHEMA = parameters_from_signature(typed, "typed")
GOOD = {"city": "Oslo", "days": 2, "ratio": 0.5, "metric": True, "tags": [], "extra": {}}


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (GOOD, None),
        ({**GOOD, "note": None, "level": 3, "anything": [1, {"x": None}]}, None),
        ({k: v for k, v in GOOD.items() if k != "days"}, "`days` is required"),
        ({**GOOD, "days": "2"}, "`days` must be integer, not string"),
        ({**GOOD, "days": True}, "`days` must be integer, not boolean"),
        ({**GOOD, "ratio": 1}, None),  # an integer is a number
        ({**GOOD, "tags": ["a", 3]}, "`tags[1]` must be string, not integer"),
        ({**GOOD, "unit": "K"}, '`unit` must be one of "C", "F"'),
        ({**GOOD, "colour": "red"}, "`colour` is not a parameter"),
    ],
)
def test_arguments_are_checked_against_the_schema(
    arguments: dict[str, Any], problem: str | None
) -> None:
    found = argument_problem(arguments, SCHEMA)
    assert found == problem if problem is None else problem in (found or "")


def test_refs_and_bounds_are_understood() -> None:
    schema = {
        "type": "object",
        "properties": {"when": {"$ref": "#/$defs/Day"}, "n": {"type": "integer", "minimum": 1}},
        "$defs": {"Day": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}},
    }
    assert schema_problem(schema) is None
    assert argument_problem({"when": "2024-01-02", "n": 1}, schema) is None
    assert "must match" in (argument_problem({"when": "soon"}, schema) or "")
    assert argument_problem({"n": 0}, schema) == "`n` must be >= 1"


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        ([], ""),
        ({"type": "array"}, "type"),
        ({"type": "object", "properties": []}, "properties"),
        ({"type": "object", "properties": {"a": {"type": "str"}}}, "properties.a.type"),
        ({"type": "object", "required": "a"}, "required"),
        ({"type": "object", "properties": {"a": {"anyOf": []}}}, "properties.a.anyOf"),
        ({"type": "object", "properties": {"a": {"$ref": "http://x"}}}, "properties.a.$ref"),
    ],
)
def test_a_bad_schema_names_where(schema: Any, where: str) -> None:
    problem = schema_problem(schema)
    assert problem is not None and problem[0] == where


def run(tool: ServerTool, arguments: str) -> tuple[str, bool]:
    return asyncio.run(tool.run(arguments))


def test_a_sync_tool_runs_in_a_thread_of_its_own_and_its_value_becomes_json() -> None:
    threads: list[str] = []

    def where(city: str) -> dict[str, Any]:
        """Where the tool ran."""
        threads.append(threading.current_thread().name)
        return {"city": city, "n": [1, 2]}

    tool = ServerTool(ToolConfig(name="where", function=where))
    assert tool.description == "Where the tool ran."
    assert run(tool, '{"city": "Oslo"}') == ('{"city":"Oslo","n":[1,2]}', False)
    assert threads == ["tokenwire-tool-where"]


def test_an_async_tool_runs_on_the_loop_and_a_string_is_kept_as_it_is() -> None:
    tool = ServerTool(ToolConfig(name="add", function=tf.add, description="Sum."))
    assert tool.spec == {
        "type": "function",
        "function": {"name": "add", "description": "Sum.", "parameters": tool.parameters},
    }
    assert run(tool, '{"a": 2}') == ("3", False)
    text = ServerTool(ToolConfig(name="echo", function=lambda s: s, parameters={"type": "object"}))
    assert run(text, '{"s": "plain text"}') == ("plain text", False)


def test_a_raising_tool_names_the_exception_type_and_nothing_else(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tool = ServerTool(ToolConfig(name="explode", function=tf.explode))
    assert run(tool, '{"reason": "x"}') == ("the tool explode failed (RuntimeError)", True)
    assert tf.SECRET in caplog.text  # the traceback goes to the log, for the operator


def test_a_tool_s_own_timeout_error_is_a_failure_not_its_time_running_out() -> None:
    async def waits_on_something(seconds: float) -> str:
        await asyncio.wait_for(asyncio.Event().wait(), seconds)
        return "never"

    tool = ServerTool(ToolConfig(name="waits", function=waits_on_something, timeout_seconds=30))
    assert run(tool, '{"seconds": 0.01}') == ("the tool waits failed (TimeoutError)", True)
    tool = ServerTool(ToolConfig(name="waits", function=waits_on_something, timeout_seconds=0.01))
    assert run(tool, '{"seconds": 30}') == ("the tool waits did not answer within 0.01 s", True)


def test_a_call_the_function_cannot_take_is_an_error_result() -> None:
    tool = ServerTool(
        ToolConfig(name="strict", function=lambda a: a, parameters={"type": "object"})
    )
    content, is_error = run(tool, '{"b": 1}')
    assert is_error and content.startswith("invalid arguments for strict:")
    assert run(tool, "") == ("invalid arguments for strict: missing a required argument: 'a'", True)
    assert run(tool, "[1]") == ("invalid arguments for strict: expected a JSON object", True)


def test_declared_parameters_are_checked_when_the_tool_is_built() -> None:
    with pytest.raises(ConfigError, match=r"`parameters.properties.a.type`"):
        ServerTool(
            ToolConfig(
                name="x",
                function=tf.add,
                parameters={"type": "object", "properties": {"a": {"type": "int"}}},
            )
        )
    with pytest.raises(ConfigError, match="cannot import"):
        ServerTool(ToolConfig(name="x", function="tests.support.nowhere:f"))


async def test_a_model_naming_an_undeclared_tool_fails_at_start_up() -> None:
    model = ModelConfig(id="r", provider="replay", text="x", tools=("nope",))
    with pytest.raises(ConfigError, match="not declared in \\[\\[tools\\]\\]"):
        await model_tools(Settings(models=(model,)), {"r": ReplayProvider(id="r", text="x")})


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def calls(*ids: str, size: int = 10) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": "f", "arguments": "x" * size}}
            for i in ids
        ],
    }


def result(call_id: str, size: int = 10) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": "r" * size}


def test_fitting_never_cuts_between_calls_and_their_results() -> None:
    first = [user("one"), calls("a", "b"), result("a"), result("b"), user("and?")]
    second = [user("two"), calls("c"), result("c"), {"role": "assistant", "content": "done"}]
    history = first + second
    whole = 3 + 22 + 10 + 10 + 4 + 3 + 11 + 10 + 4  # text, and name + arguments of each call
    kept_by_budget = [fit_history(history, budget) for budget in range(whole + 1)]
    assert {len(kept) for kept in kept_by_budget} == {0, 4, 5, len(history)}
    for kept in kept_by_budget:
        # Whole turns from the end: a suffix that starts with a user message, calls with results.
        assert kept == history[len(history) - len(kept) :]
        assert kept == [] or kept[0]["role"] == "user"
    assert kept_by_budget[-1] == history


def test_the_current_turn_is_kept_whole_and_older_turns_fill_what_is_left() -> None:
    old = [user("old question"), {"role": "assistant", "content": "old answer"}]
    current = [user("now"), calls("a", size=50), result("a", size=50)]
    assert fit_turn(old + current, 10) == current
    assert fit_turn(old + current, 200) == old + current


def test_the_last_step_of_a_stream_is_what_follows_the_last_results() -> None:
    payloads = [
        Delta("looking"),
        ToolCall(0, "call_a", "f", "{}"),
        ToolResult("call_a", "A"),
        Delta("now "),
        ToolCall(0, "call_b", "g"),
        ToolCall(0, arguments="{}"),
        Usage(3, 4),
        ToolResult("call_b", "B"),
    ]
    answer, results = last_step(payloads)
    assert answer.text == "now "
    assert [(c.id, c.arguments) for c in answer.tool_calls] == [("call_b", "{}")]
    assert results == [ToolResult("call_b", "B")]
    answer, results = last_step([*payloads, Delta("more"), Done()])
    assert (answer.text, answer.tool_calls, results) == ("more", [], [])


@pytest.mark.parametrize(
    ("choice", "then"),
    [
        ("required", "auto"),
        ({"type": "function", "function": {"name": "f"}}, "auto"),
        ("auto", "auto"),
        ("none", "none"),
        (None, None),
    ],
)
def test_a_forced_tool_choice_forces_the_first_call_only(choice: Any, then: Any) -> None:
    assert after_first_step(GenerationParams(tool_choice=choice)).tool_choice == then
