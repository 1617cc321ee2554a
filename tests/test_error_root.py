"""Every exception tokenwire declares derives from ``tokenwire.errors.TokenwireError``."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import pkgutil
from pathlib import Path

import pytest

import tokenwire
from tokenwire.errors import TokenwireError

OPTIONAL = ("PySide6",)  # `tokenwire[desktop]`: its modules are not imported here (see below)


def imports_of(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


def declared_exceptions() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for info in pkgutil.walk_packages(tokenwire.__path__, "tokenwire."):
        spec = importlib.util.find_spec(info.name)
        assert spec is not None and spec.origin is not None
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        if any(name.split(".")[0] in OPTIONAL for name in imports_of(tree)):
            # Qt may be missing, or unable to load here: read the module instead of importing it.
            bases = [
                ast.unparse(base)
                for node in ast.walk(tree)
                if isinstance(node, ast.ClassDef)
                for base in node.bases
            ]
            unrooted = [
                b for b in bases if b.endswith(("Error", "Exception")) and b != "TokenwireError"
            ]
            assert not unrooted, f"{info.name}: {unrooted}"
            continue
        module = importlib.import_module(info.name)
        found += [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj)
            and issubclass(obj, BaseException)
            and obj.__module__ == module.__name__
        ]
    return found


def test_every_exception_class_derives_from_tokenwire_error() -> None:
    declared = declared_exceptions()
    assert len(declared) >= 25  # the walk found the package's modules
    unrooted = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in declared
        if not issubclass(cls, TokenwireError)
    )
    assert unrooted == []


@pytest.mark.parametrize(
    ("module", "name", "second"),
    [
        ("tokenwire.config", "ConfigError", ValueError),
        ("tokenwire.hub.hub", "ModelNotFound", LookupError),
        ("tokenwire.hub.log", "StreamNotFound", LookupError),
        ("tokenwire.hub.log", "StreamEnded", ValueError),
        ("tokenwire.store.database", "DatabaseUnavailable", RuntimeError),
        ("tokenwire.store.tokens", "InvalidUser", ValueError),
        ("tokenwire.server.mountable", "ForeignLoop", RuntimeError),
    ],
)
def test_exceptions_keep_the_base_code_catches(module: str, name: str, second: type) -> None:
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, TokenwireError) and issubclass(cls, second)


def test_the_client_root_is_the_package_root() -> None:
    from tokenwire import client

    assert client.TokenwireError is TokenwireError
    assert all(
        issubclass(cls, TokenwireError)
        for cls in (client.ApiError, client.StreamError, client.ConnectionLost)
    )


def test_the_root_docstring_shows_every_exception() -> None:
    import tokenwire.errors

    tree = tokenwire.errors.__doc__ or ""
    missing = sorted(
        cls.__qualname__
        for cls in declared_exceptions()
        if cls is not TokenwireError
        and f"+ {cls.__qualname__} " not in tree
        and f"- {cls.__qualname__} " not in tree
    )
    assert missing == []
