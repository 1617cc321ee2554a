"""Reading tokenwire.toml and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenwire.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tokenwire.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_models_from_the_file_in_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[models]]
        id = "deepseek-chat"
        provider = "openai"
        base_url = "https://api.deepseek.com/v1"
        api_key_env = "DEEPSEEK_API_KEY"
        first_token_timeout = 30

        [[models]]
        id = "demo"
        provider = "replay"
        text = "hello"
        tokens_per_second = 10
        """,
    )
    settings = load_settings(path, env={"TOKENWIRE_DATABASE_URL": "sqlite:///x.db"})
    assert settings.model_ids() == ["deepseek-chat", "demo"]
    deepseek = settings.models[0]
    assert deepseek.upstream_model == "deepseek-chat"
    assert deepseek.effective_idle_timeout == 30
    assert settings.database_url == "sqlite:///x.db"


def test_openai_api_key_alone_adds_an_openai_model() -> None:
    settings = load_settings(
        env={"OPENAI_API_KEY": "sk-secret", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    )
    (model,) = settings.models
    assert (model.provider, model.base_url, model.api_key_env) == (
        "openai",
        "http://127.0.0.1:9/v1",
        "OPENAI_API_KEY",
    )
    assert "sk-secret" not in repr(settings)  # only the variable's name is kept


def test_nothing_configured_means_the_bundled_local_model() -> None:
    (model,) = load_settings(env={}).models
    assert model.provider == "local" and model.path is None


def test_command_line_overrides_win(tmp_path: Path) -> None:
    path = write(tmp_path, 'host = "0.0.0.0"\nport = 9000\n')
    settings = load_settings(path, env={}, host="127.0.0.1", port=None)
    assert (settings.host, settings.port) == ("127.0.0.1", 9000)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[[models]]\nprovider = 'local'\n", "non-empty string `id`"),
        ("[[models]]\nid = 'x'\nprovider = 'magic'\n", "provider must be"),
        ("[[models]]\nid = 'x'\nprovider = 'openai'\n", "needs `base_url`"),
        ("[[models]]\nid = 'x'\nprovider = 'replay'\n", "needs one of `text`"),
        ("[[models]]\nid = 'x'\ncolour = 'red'\n", "unknown key"),
        ("[[models]]\nid = 'x'\n[[models]]\nid = 'x'\n", "declared twice"),
        ("prot = 1\n", "unknown setting"),
        ("[[models]\n", "cannot read config file"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_settings(write(tmp_path, text), env={})


def test_a_vendors_headers_body_and_vision_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[models]]
        id = "qwen"
        provider = "openai"
        base_url = "https://dashscope.aliyuncs.com/compatible-mode/v1"
        vision = true
        headers = { "X-Title" = "tokenwire" }
        headers_env = { "X-Api-Key" = "QWEN_HEADER_KEY" }
        extra_body = { enable_thinking = true, thinking = { type = "enabled" } }
        """,
    )
    (model,) = load_settings(path, env={}).models
    assert model.vision and model.headers == {"X-Title": "tokenwire"}
    assert model.headers_env == {"X-Api-Key": "QWEN_HEADER_KEY"}
    assert model.extra_body == {"enable_thinking": True, "thinking": {"type": "enabled"}}


OPENAI = "[[models]]\nid = 'x'\nprovider = 'openai'\nbase_url = 'http://h/v1'\n"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (OPENAI + "headers = { Authorization = 'Bearer sk-x' }\n", "name the environment variable"),
        (OPENAI + "headers = { 'Content-Length' = '5' }\n", "set by tokenwire itself"),
        (OPENAI + "headers = { 'X bad' = 'v' }\n", "maps header names to strings"),
        (OPENAI + "headers = { X-N = 5 }\n", "maps header names to strings"),
        (
            OPENAI + "headers = { A = 'v' }\nheaders_env = { a = 'V' }\n",
            "in headers and headers_env",
        ),
        (OPENAI + "extra_body = { messages = [] }\n", "cannot set messages"),
        (OPENAI + "extra_body = 5\n", "must be a table"),
        (OPENAI + "vision = 'yes'\n", "true or false"),
        ("[[models]]\nid = 'x'\nprovider = 'local'\nvision = true\n", "cannot read images"),
        ("[[models]]\nid='x'\nprovider='replay'\ntext='t'\nheaders={A='b'}\n", "only for openai"),
    ],
)
def test_bad_vendor_settings_are_a_clear_error(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_settings(write(tmp_path, text), env={})


def test_the_outage_bounds_are_read_and_must_be_positive(tmp_path: Path) -> None:
    text = "log_outage_seconds = 4.5\nlog_outage_max_events = 50\nstore_outage_seconds = 7\n"
    settings = load_settings(write(tmp_path, text), env={})
    assert (settings.log_outage_seconds, settings.log_outage_max_events) == (4.5, 50)
    assert settings.store_outage_seconds == 7
    for bad in ("log_outage_seconds = 0\n", "log_outage_max_events = -1\n"):
        with pytest.raises(ConfigError, match="log_outage_seconds and log_outage_max_events"):
            load_settings(write(tmp_path, bad), env={})
    with pytest.raises(ConfigError, match="store_outage_seconds"):
        load_settings(write(tmp_path, "store_outage_seconds = -1\n"), env={})
