"""Settings: from a TOML file, environment variables and command-line flags, in that order of rising
precedence. Secrets are never stored here, only the *name* of the variable that holds them."""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import platformdirs

from tokenwire.errors import TokenwireError

ProviderKind = Literal["local", "openai", "replay", "python"]
PROVIDER_KINDS: tuple[ProviderKind, ...] = ("local", "openai", "replay", "python")


class ConfigError(TokenwireError, ValueError):
    """The configuration cannot be used; the message says which setting and why."""


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """One ``[[models]]`` entry."""

    id: str
    provider: ProviderKind = "local"
    # openai
    base_url: str | None = None
    api_key_env: str | None = None
    model: str | None = None  # upstream name; defaults to id
    connect_timeout: float = 10.0
    first_token_timeout: float = 60.0
    idle_timeout: float | None = None  # defaults to first_token_timeout
    # openai: what every request to this upstream carries (see docs/vendors.md).
    # `headers` go as they are (OpenRouter's HTTP-Referer and X-Title, Qianfan's appid);
    # `headers_env` names, per header, the environment variable holding a secret value, which is
    # never written here nor logged; `extra_body` is merged into every request body (Qwen's
    # enable_thinking, DeepSeek's thinking): over tokenwire's defaults, under the parameters of
    # the request itself; from Python, a key set to None removes one of tokenwire's defaults.
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)
    headers_env: Mapping[str, str] = field(default_factory=dict, hash=False)
    extra_body: Mapping[str, Any] = field(default_factory=dict, hash=False)
    # Whether the model reads image parts of a message (openai and python models only).
    vision: bool = False
    # local
    path: str | None = None  # any GGUF; defaults to the bundled SmolLM2-135M-Instruct
    context_size: int = 2048
    threads: int | None = None
    # replay
    text: str | None = None
    text_file: str | None = None
    tokens_per_second: float = 0.0
    # python: "package.module:function", or the function itself when configured from Python
    entry: str | Callable[..., Any] | None = None
    # Tools (docs/tools.md): the [[tools]] the server runs for this model, at most
    # max_tool_steps rounds of them per answer. A replay model plays `turns` instead of `text`:
    # each turn {text?, reasoning?, tool_calls? = [{name, arguments?, id?}]}, checked and
    # normalised when read (arguments as a JSON string, id None when not given).
    tools: tuple[str, ...] = ()
    max_tool_steps: int = 8
    turns: tuple[dict[str, Any], ...] = ()
    # every provider
    max_tokens: int | None = None
    # Before the first token, retryable failures are retried with backoff (honouring Retry-After)
    # until this many seconds have passed, then each fallback model is tried the same way.
    retry_deadline: float = 20.0
    max_retries: int = 4
    fallbacks: tuple[str, ...] = ()

    @property
    def upstream_model(self) -> str:
        return self.model or self.id

    @property
    def effective_idle_timeout(self) -> float:
        return self.idle_timeout if self.idle_timeout is not None else self.first_token_timeout


@dataclass(frozen=True, slots=True)
class ToolConfig:
    """One ``[[tools]]`` entry: a Python function the server runs when a model calls it.

    ``description`` defaults to the function's docstring and ``parameters`` (a JSON Schema of
    ``type: object``) to one derived from its signature's type hints (``tokenwire.hub.schema``).
    """

    name: str
    function: str | Callable[..., Any]  # "package.module:callable", or the callable itself
    description: str | None = None
    parameters: dict[str, Any] | None = None
    timeout_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class Settings:
    models: tuple[ModelConfig, ...] = ()
    tools: tuple[ToolConfig, ...] = ()  # [[tools]]: what models may have the server run
    database_url: str = ""
    redis_url: str = ""  # set: streams live in Redis, shared by every process (TOKENWIRE_REDIS_URL)
    producer_lease_seconds: float = 5.0  # with Redis: how soon a dead process's streams end
    # With Redis: how long, and for how many events, a generation holds its events while Redis is
    # unreachable (they are written when it is back); past either, the stream ends log_unavailable.
    log_outage_seconds: float = 30.0
    log_outage_max_events: int = 10_000
    # How long a generation retries saving its answer while the database is unreachable; past
    # it, the stream ends store_unavailable.
    store_outage_seconds: float = 30.0
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1024 * 1024
    keepalive_seconds: float = 15.0
    retry_ms: int = 1000
    stream_retention_seconds: float = 600.0
    max_streams: int = 10_000
    max_events_per_stream: int = 100_000
    # In-process log only: event JSON kept in all; the oldest finished streams go first past it.
    max_log_bytes: int = 256 * 1024 * 1024
    # Auth: open on loopback until the first token exists (or auth_required is set).
    auth_required: bool = False
    cors_origins: tuple[str, ...] = ()  # browser origins allowed to call the API; none by default
    # Limits; 0 or "" turns one off.
    max_message_chars: int = 100_000
    max_answer_chars: int = 1_000_000  # text and reasoning one stream may send; then "length"
    max_context_chars: int = 400_000  # history sent upstream; older turns are left out past it
    max_concurrent_streams: int = 2_000  # generations running in this process
    max_streams_per_user: int = 32  # when auth is on; in open mode there is one user
    rate_limit_user: str = "600/minute"  # requests per authenticated user
    rate_limit_ip: str = "1200/minute"  # requests per client address
    ws_max_frame_bytes: int = 1024 * 1024
    ws_max_streams: int = 64  # streams one WebSocket reads at once
    # Open reader connections (SSE, NDJSON, WebSocket on /api) per process; server/reader_caps.py
    max_readers_per_user: int = 64  # when auth is on
    max_readers_per_ip: int = 256
    # Slow readers: a send that cannot complete in this time drops the connection, not the stream.
    send_timeout_seconds: float = 30.0
    # On SIGTERM, running generations get this long to finish before they end as interrupted.
    shutdown_grace_seconds: float = 10.0
    stream_gzip: bool = False  # gzip SSE/NDJSON for clients that accept it, flushed per write

    def model_ids(self) -> list[str]:
        return [m.id for m in self.models]


DEFAULT_LOCAL_MODEL = ModelConfig(id="smollm2-135m-instruct", provider="local")


def default_database_url() -> str:
    data_dir = Path(platformdirs.user_data_dir("tokenwire"))
    return f"sqlite:///{data_dir / 'tokenwire.db'}"


def load_settings(
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings; ``overrides`` (e.g. host, port) win over the file and the environment."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if config_file is not None:
        try:
            raw = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc}") from exc
    models = [_model_from_table(entry, i) for i, entry in enumerate(raw.pop("models", []))]
    tools = _tools_of(raw.pop("tools", []))
    if env.get("OPENAI_API_KEY") and not any(m.api_key_env == "OPENAI_API_KEY" for m in models):
        models.append(
            ModelConfig(
                id=env.get("OPENAI_MODEL", "gpt-4o-mini"),
                provider="openai",
                base_url=env.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
                api_key_env="OPENAI_API_KEY",
            )
        )
    if not models:
        models.append(DEFAULT_LOCAL_MODEL)
    _check_unique([m.id for m in models])
    _check_fallbacks(models)

    known = {f.name for f in fields(Settings)} - {"models", "tools"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"unknown setting(s) in config file: {', '.join(sorted(unknown))}")
    if isinstance(raw.get("cors_origins"), list):
        raw["cors_origins"] = tuple(raw["cors_origins"])
    settings = Settings(models=tuple(models), tools=tools, **raw)
    if url := env.get("TOKENWIRE_DATABASE_URL"):
        settings = replace(settings, database_url=url)
    if url := env.get("TOKENWIRE_REDIS_URL"):
        settings = replace(settings, redis_url=url)
    if not settings.database_url:
        settings = replace(settings, database_url=default_database_url())
    if overrides.get("models") is not None:
        overrides["models"] = models_from(overrides["models"])
    if overrides.get("tools") is not None:
        overrides["tools"] = tools_from(overrides["tools"])
    if isinstance(overrides.get("cors_origins"), list):
        overrides["cors_origins"] = tuple(overrides["cors_origins"])
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    if settings.max_body_bytes < 1024:
        raise ConfigError("max_body_bytes must be at least 1024")
    _check_rate_limits(settings)
    if settings.redis_url and not settings.redis_url.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise ConfigError("redis_url must start with redis://, rediss:// or unix://")
    if settings.producer_lease_seconds <= 0:
        raise ConfigError("producer_lease_seconds must be positive")
    if settings.log_outage_seconds <= 0 or settings.log_outage_max_events <= 0:
        raise ConfigError("log_outage_seconds and log_outage_max_events must be positive")
    if settings.store_outage_seconds < 0:
        raise ConfigError("store_outage_seconds must be 0 or more")
    _check_model_tools(settings)
    return settings


def models_from(entries: Iterable[ModelConfig | Mapping[str, Any]]) -> tuple[ModelConfig, ...]:
    """Models given from Python: ``ModelConfig``s, or dicts shaped like the TOML entries."""
    models = tuple(
        _model_from_table(dict(entry), i) if isinstance(entry, Mapping) else _checked(entry, i)
        for i, entry in enumerate(entries)
    )
    if not models:
        raise ConfigError("models: at least one model is needed")
    _check_unique([m.id for m in models])
    _check_fallbacks(list(models))
    return models


def _model_from_table(entry: Any, index: int) -> ModelConfig:
    where = f"models[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"]:
        raise ConfigError(f"{where}: each model needs a non-empty string `id`")
    allowed = {f.name for f in fields(ModelConfig)}
    unknown = set(entry) - allowed
    if unknown:
        raise ConfigError(f"{where} ({entry['id']}): unknown key(s) {', '.join(sorted(unknown))}")
    for name in ("fallbacks", "tools", "turns"):
        if isinstance(entry.get(name), list):
            entry = {**entry, name: tuple(entry[name])}
    try:
        model = ModelConfig(**entry)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return _checked(model, index)


def _checked(model: ModelConfig, index: int) -> ModelConfig:
    where = f"models[{index}]"
    if not isinstance(model, ModelConfig):
        raise ConfigError(f"{where}: expected a ModelConfig or a dict, got {type(model).__name__}")
    if model.provider not in PROVIDER_KINDS:
        raise ConfigError(f"{where}: provider must be one of {', '.join(PROVIDER_KINDS)}")
    if model.provider == "openai" and not model.base_url:
        raise ConfigError(f"{where} ({model.id}): an openai model needs `base_url`")
    if model.provider == "replay" and (
        (model.text is not None) + (model.text_file is not None) + bool(model.turns) != 1
    ):
        raise ConfigError(
            f"{where} ({model.id}): a replay model needs one of `text`, `text_file` and `turns`"
        )
    if model.turns:
        if model.provider != "replay":
            raise ConfigError(f"{where} ({model.id}): only a replay model plays `turns`")
        turns = tuple(
            replay_turn(turn, f"{where} ({model.id}).turns[{i}]")
            for i, turn in enumerate(model.turns)
        )
        model = replace(model, turns=turns)
    if isinstance(model.tools, list):
        model = replace(model, tools=tuple(model.tools))
    if not isinstance(model.tools, tuple) or not all(isinstance(t, str) for t in model.tools):
        raise ConfigError(f"{where} ({model.id}): `tools` must be a list of [[tools]] names")
    if (
        isinstance(model.max_tool_steps, bool)
        or not isinstance(model.max_tool_steps, int)
        or model.max_tool_steps < 1
    ):
        raise ConfigError(f"{where} ({model.id}): `max_tool_steps` must be an integer >= 1")
    if model.provider == "python" and not (
        callable(model.entry) or (isinstance(model.entry, str) and ":" in model.entry)
    ):
        raise ConfigError(
            f"{where} ({model.id}): a python model needs `entry`, "
            '"package.module:function" or the function itself'
        )
    return _checked_upstream(model, f"{where} ({model.id})")


# Headers that carry a credential: their value goes in an environment variable (headers_env).
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "api-key", "x-api-key", "x-goog-api-key", "cookie"}
)
# Headers the HTTP client sets itself, from the body and the URL.
_FRAMING_HEADERS = frozenset(
    {"content-length", "content-type", "host", "transfer-encoding", "connection"}
)
_RESERVED_BODY_KEYS = frozenset({"model", "messages", "stream"})


def _checked_upstream(model: ModelConfig, where: str) -> ModelConfig:
    """``headers``, ``headers_env``, ``extra_body`` and ``vision``: their shapes, where they go."""
    tables: dict[str, dict[str, Any]] = {}
    for name in ("headers", "headers_env", "extra_body"):
        value = getattr(model, name)
        if not isinstance(value, Mapping) or not all(isinstance(k, str) and k for k in value):
            raise ConfigError(f"{where}: `{name}` must be a table with string keys")
        if value and model.provider != "openai":
            raise ConfigError(f"{where}: `{name}` is only for openai models")
        tables[name] = dict(value)
    for name in ("headers", "headers_env"):
        for header, value in tables[name].items():
            if not isinstance(value, str) or not _is_token(header):
                raise ConfigError(
                    f"{where}: `{name}` maps header names to strings; {header!r} is not one"
                )
            if header.lower() in _FRAMING_HEADERS:
                raise ConfigError(f"{where}: the header {header!r} is set by tokenwire itself")
    for header in tables["headers"]:
        if header.lower() in SECRET_HEADERS:
            raise ConfigError(
                f"{where}: the header {header!r} holds a credential: name the environment "
                f"variable that holds it in `headers_env` instead"
            )
    duplicated = {h.lower() for h in tables["headers"]} & {h.lower() for h in tables["headers_env"]}
    if duplicated:
        raise ConfigError(f"{where}: {', '.join(sorted(duplicated))} in headers and headers_env")
    reserved = _RESERVED_BODY_KEYS & set(tables["extra_body"])
    if reserved:
        raise ConfigError(
            f"{where}: `extra_body` cannot set {', '.join(sorted(reserved))}: tokenwire does"
        )
    if not isinstance(model.vision, bool):
        raise ConfigError(f"{where}: `vision` must be true or false")
    if model.vision and model.provider not in ("openai", "python"):
        raise ConfigError(f"{where}: a {model.provider} model cannot read images (`vision`)")
    return replace(
        model,
        headers=tables["headers"],
        headers_env=tables["headers_env"],
        extra_body=tables["extra_body"],
    )


def _is_token(name: str) -> bool:
    """An HTTP field name (RFC 9110 token)."""
    return all(c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~") for c in name)


def _check_fallbacks(models: list[ModelConfig]) -> None:
    ids = {m.id for m in models}
    for model in models:
        for fallback in model.fallbacks:
            if fallback not in ids or fallback == model.id:
                raise ConfigError(f"model {model.id!r}: fallback {fallback!r} is not another model")


def _check_unique(ids: list[str]) -> None:
    seen: set[str] = set()
    for model_id in ids:
        if model_id in seen:
            raise ConfigError(f"model id {model_id!r} is declared twice")
        seen.add(model_id)


def _check_rate_limits(settings: Settings) -> None:
    from limits import parse

    for name in ("rate_limit_user", "rate_limit_ip"):
        value = getattr(settings, name)
        if value:
            try:
                parse(value)
            except ValueError:
                raise ConfigError(f"{name}: {value!r} is not a rate such as '600/minute'") from None


# --- tools ------------------------------------------------------------------------------------

# What OpenAI accepts as a function's name.
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TOOL_KEYS = frozenset(f.name for f in fields(ToolConfig))


def tools_from(entries: Iterable[ToolConfig | Mapping[str, Any]]) -> tuple[ToolConfig, ...]:
    """Tools given from Python: ``ToolConfig``s, or dicts shaped like the ``[[tools]]`` entries."""
    return _tools_of([dict(entry) if isinstance(entry, Mapping) else entry for entry in entries])


def _tools_of(entries: Any) -> tuple[ToolConfig, ...]:
    if not isinstance(entries, list | tuple):
        raise ConfigError("tools: expected a list of [[tools]] tables")
    tools = tuple(_tool(entry, i) for i, entry in enumerate(entries))
    seen: set[str] = set()
    for tool in tools:
        if tool.name in seen:
            raise ConfigError(f"tool {tool.name!r} is declared twice")
        seen.add(tool.name)
    return tools


def _tool(entry: Any, index: int) -> ToolConfig:
    where = f"tools[{index}]"
    if isinstance(entry, dict):
        unknown = set(entry) - _TOOL_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        try:
            entry = ToolConfig(**entry)
        except TypeError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    if not isinstance(entry, ToolConfig):
        raise ConfigError(
            f"{where}: expected a table (or a ToolConfig), got {type(entry).__name__}"
        )
    if not isinstance(entry.name, str) or not TOOL_NAME.match(entry.name):
        raise ConfigError(f"{where}: `name` must be 1 to 64 letters, digits, _ or -")
    where = f"{where} ({entry.name})"
    function = entry.function
    if not (callable(function) or (isinstance(function, str) and ":" in function)):
        raise ConfigError(f'{where}: `function` must be "package.module:callable" or a callable')
    if entry.description is not None and not isinstance(entry.description, str):
        raise ConfigError(f"{where}: `description` must be a string")
    if entry.parameters is not None and not isinstance(entry.parameters, dict):
        raise ConfigError(f"{where}: `parameters` must be a table (a JSON Schema)")
    timeout = entry.timeout_seconds
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ConfigError(f"{where}: `timeout_seconds` must be a positive number")
    return entry


def _check_model_tools(settings: Settings) -> None:
    declared = {tool.name for tool in settings.tools}
    for model in settings.models:
        for name in model.tools:
            if name not in declared:
                raise ConfigError(f"model {model.id!r}: tool {name!r} is not declared in [[tools]]")


def replay_turn(turn: Any, where: str = "turn") -> dict[str, Any]:
    """A replay turn, checked, with each call's arguments as the JSON string a model sends."""
    if not isinstance(turn, dict):
        raise ConfigError(f"{where}: a turn must be a table")
    unknown = set(turn) - {"text", "reasoning", "tool_calls"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    for name in ("text", "reasoning"):
        if not isinstance(turn.get(name, ""), str):
            raise ConfigError(f"{where}: `{name}` must be a string")
    calls = turn.get("tool_calls", [])
    if not isinstance(calls, list | tuple):
        raise ConfigError(f"{where}: `tool_calls` must be a list of tables")
    if not turn.get("text") and not calls:
        raise ConfigError(f"{where}: a turn needs `text` or `tool_calls`")
    return {
        "text": turn.get("text", ""),
        "reasoning": turn.get("reasoning", ""),
        "tool_calls": [_scripted_call(c, f"{where}.tool_calls[{i}]") for i, c in enumerate(calls)],
    }


def _scripted_call(call: Any, where: str) -> dict[str, Any]:
    if not isinstance(call, dict):
        raise ConfigError(f"{where}: a call must be a table")
    unknown = set(call) - {"name", "arguments", "id"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    name, call_id, arguments = call.get("name"), call.get("id"), call.get("arguments", {})
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: `name` must be a non-empty string")
    if call_id is not None and (not isinstance(call_id, str) or not call_id):
        raise ConfigError(f"{where}: `id` must be a non-empty string")
    if isinstance(arguments, dict):
        # A table is the arguments' JSON; a string is sent as it is (it may even be broken JSON).
        arguments = json.dumps(arguments, ensure_ascii=False)
    if not isinstance(arguments, str):
        raise ConfigError(f"{where}: `arguments` must be a table or a string")
    return {"name": name, "arguments": arguments, "id": call_id}
