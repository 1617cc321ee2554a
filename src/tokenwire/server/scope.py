"""Reading an ASGI connection scope: the path below the mount point, a header, the client.

The ASGI types themselves (``Scope``, ``Receive``, ``Send``, ``Message``, ``ASGIApp``) are
Starlette's, from :mod:`starlette.types`, everywhere in tokenwire.
"""

from __future__ import annotations

from starlette.types import Scope


def route_path(scope: Scope) -> str:
    """The path within this app, also when it is mounted under a prefix."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of the header ``name`` (lower case), or None."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
