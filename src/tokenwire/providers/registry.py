"""Build the providers that the configuration declares."""

from __future__ import annotations

import os
from collections.abc import Mapping

from tokenwire.config import ConfigError, ModelConfig
from tokenwire.providers.base import Provider


def build_provider(model: ModelConfig, env: Mapping[str, str] | None = None) -> Provider:
    env = os.environ if env is None else env
    if model.provider == "local":
        from tokenwire.providers.local import LocalProvider

        return LocalProvider(
            id=model.id,
            path=model.path,
            context_size=model.context_size,
            threads=model.threads,
            max_tokens=model.max_tokens,
        )
    if model.provider == "replay":
        from tokenwire.providers.replay import ReplayProvider

        return ReplayProvider(
            id=model.id,
            text=model.text,
            text_file=model.text_file,
            turns=model.turns,
            tokens_per_second=model.tokens_per_second,
        )
    if model.provider == "python":
        from tokenwire.providers.python import PythonProvider, check_entry

        function = check_entry(model.entry)
        return PythonProvider(id=model.id, function=function, max_tokens=model.max_tokens)
    from tokenwire.providers.openai import OpenAIProvider

    assert model.base_url is not None  # checked when the configuration was read
    return OpenAIProvider(
        id=model.id,
        base_url=model.base_url,
        model=model.upstream_model,
        api_key=env.get(model.api_key_env) if model.api_key_env else None,
        connect_timeout=model.connect_timeout,
        first_token_timeout=model.first_token_timeout,
        idle_timeout=model.effective_idle_timeout,
        headers=model.headers,
        secret_headers=secret_headers(model, env),
        extra_body=model.extra_body,
    )


def secret_headers(model: ModelConfig, env: Mapping[str, str]) -> dict[str, str]:
    """The values of ``headers_env``, read from the environment now; a variable that is not set
    is a ``ConfigError`` that names it (never a value)."""
    values: dict[str, str] = {}
    for header, variable in model.headers_env.items():
        value = env.get(variable)
        if not value:
            raise ConfigError(
                f"model {model.id!r}: header {header!r} comes from the environment variable "
                f"{variable}, which is not set"
            )
        values[header] = value
    return values
