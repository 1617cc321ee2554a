"""tokenwire: carry a language model's answer to the reader, token by token.

The public face for embedding: ``create_app`` (a mountable ASGI app), the payloads a model
function yields (``ToolCall`` to call a tool; ``ToolResult``: what a tool the server ran answered),
the types of its arguments, and ``ToolConfig`` for a server-side tool (docs/tools.md).

The server stack is imported only when ``create_app`` or ``TokenwireApp`` is first used, so
``tokenwire.wire`` and ``tokenwire.client`` stay light for apps that only need the encoders or the
client.
"""

import typing as _typing

from tokenwire.config import ConfigError, ModelConfig, Settings, ToolConfig
from tokenwire.events import Delta, Done, Error, Reasoning, ToolCall, ToolResult, Usage
from tokenwire.providers.base import GenerationParams, ProviderError

if _typing.TYPE_CHECKING:
    from tokenwire.server.mountable import TokenwireApp, create_app

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Delta",
    "Done",
    "Error",
    "GenerationParams",
    "ModelConfig",
    "ProviderError",
    "Reasoning",
    "Settings",
    "TokenwireApp",
    "ToolCall",
    "ToolConfig",
    "ToolResult",
    "Usage",
    "create_app",
]

_LAZY = frozenset({"TokenwireApp", "create_app"})


def __getattr__(name: str) -> _typing.Any:
    if name in _LAZY:
        from tokenwire.server import mountable

        return getattr(mountable, name)
    raise AttributeError(f"module 'tokenwire' has no attribute {name!r}")
