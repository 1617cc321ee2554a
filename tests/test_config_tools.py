"""Reading `[[tools]]`, a model's `tools` and `max_tool_steps`, and a replay model's `turns`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenwire.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tokenwire.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_turns_and_tools_from_the_toml(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[tools]]
        name = "get_weather"
        function = "tests.support.tool_functions:get_weather"
        timeout_seconds = 5

        [[models]]
        id = "demo"
        provider = "replay"
        tools = ["get_weather"]
        max_tool_steps = 3

        [[models.turns]]
        text = "Checking."
        tool_calls = [{ name = "get_weather", arguments = { city = "Oslo" } }]

        [[models.turns]]
        text = "Sunny."
        """,
    )
    settings = load_settings(path, env={})
    (tool,) = settings.tools
    assert (tool.name, tool.function, tool.timeout_seconds) == (
        "get_weather",
        "tests.support.tool_functions:get_weather",
        5,
    )
    (model,) = settings.models
    assert (model.tools, model.max_tool_steps) == (("get_weather",), 3)
    assert model.turns == (
        {
            "text": "Checking.",
            "reasoning": "",
            "tool_calls": [{"name": "get_weather", "arguments": '{"city": "Oslo"}', "id": None}],
        },
        {"text": "Sunny.", "reasoning": "", "tool_calls": []},
    )


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('[[tools]]\nname = "a b"\nfunction = "m:f"\n', "`name` must be 1 to 64"),
        ('[[tools]]\nname = "a"\nfunction = "nothing"\n', "`function` must be"),
        ('[[tools]]\nname = "a"\nfunction = "m:f"\ncolour = 1\n', "unknown key"),
        ('[[tools]]\nname = "a"\nfunction = "m:f"\ntimeout_seconds = 0\n', "timeout_seconds"),
        ('[[tools]]\nname = "a"\nfunction = "m:f"\n' * 2, "declared twice"),
        (
            '[[models]]\nid = "x"\nprovider = "replay"\ntext = "t"\ntools = ["nope"]\n',
            "tool 'nope' is not declared in [[tools]]",
        ),
        (
            '[[models]]\nid = "x"\nprovider = "replay"\ntext = "t"\nmax_tool_steps = 0\n',
            "`max_tool_steps` must be an integer >= 1",
        ),
        (
            '[[models]]\nid = "x"\nprovider = "replay"\n[[models.turns]]\nreasoning = "r"\n',
            "needs `text` or `tool_calls`",
        ),
        (
            '[[models]]\nid = "x"\nprovider = "replay"\n'
            '[[models.turns]]\ntool_calls = [{ id = "c" }]\n',
            "tool_calls[0]: `name` must be a non-empty string",
        ),
        (
            '[[models]]\nid = "x"\nprovider = "replay"\ntext = "t"\n[[models.turns]]\ntext = "u"\n',
            "one of `text`, `text_file` and `turns`",
        ),
        (
            '[[models]]\nid = "x"\nprovider = "local"\n[[models.turns]]\ntext = "u"\n',
            "only a replay model plays `turns`",
        ),
    ],
)
def test_bad_tool_config_is_a_clear_error(tmp_path: Path, text: str, complaint: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(write(tmp_path, text), env={})
    assert complaint in str(raised.value)
