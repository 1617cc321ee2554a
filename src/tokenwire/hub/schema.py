"""Tool parameters as JSON Schema: derived from a function's signature, checked, and used to check
a call's arguments before the function runs.

The subset tokenwire understands (what function-calling schemas use; other keywords, such as
``description``, ``title``, ``default`` or ``format``, are accepted and not checked):
``type`` (one or a list of ``object``, ``array``, ``string``, ``integer``, ``number``, ``boolean``,
``null``), ``properties``, ``required``, ``additionalProperties``, ``items``, ``enum``, ``const``,
``anyOf``, ``oneOf``, ``allOf``, ``minimum``, ``maximum``, ``exclusiveMinimum``,
``exclusiveMaximum``, ``minLength``, ``maxLength``, ``minItems``, ``maxItems``, ``pattern``, and
``$ref`` to ``#/$defs/...`` or ``#/definitions/...`` of the same schema (what pydantic writes).
``integer`` means a JSON number without a fraction part or exponent (Python ``int``).

Errors name where they are: :func:`schema_problem` the keyword's path in the schema
(``properties.city.type``), :func:`argument_problem` the argument's (``city``, ``days[2]``).
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from typing import Any, Final, Literal, Union

from tokenwire.config import ConfigError

JSON_TYPES: Final = frozenset({"object", "array", "string", "integer", "number", "boolean", "null"})
_SIMPLE: Final[dict[Any, str]] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    dict: "object",
    list: "array",
    type(None): "null",
}
_SCHEMA_LISTS: Final = ("anyOf", "oneOf", "allOf")
_NUMBERS: Final = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_COUNTS: Final = ("minLength", "maxLength", "minItems", "maxItems")


# --- from a signature ----------------------------------------------------------------------------


def parameters_from_signature(function: Callable[..., Any], tool: str) -> dict[str, Any]:
    """The JSON Schema of a function's keyword arguments, from its type hints.

    ``str``, ``int``, ``float``, ``bool``, ``list``/``list[X]``, ``dict``, ``Literal[...]``,
    ``X | None``/``Optional[X]``, other unions, and ``Annotated[X, "a description"]``; no hint
    (or ``Any``) allows any value. A parameter without a default is required; ``**kwargs`` allows
    other names. Raises ``ConfigError`` for what has no JSON Schema (``*args``, positional-only
    parameters, other types): give ``parameters`` in the configuration then.
    """
    target: Any = function
    if not (inspect.isroutine(target) or inspect.isclass(target)) and callable(target):
        target = type(target).__call__
    try:
        signature = inspect.signature(function)
        hints = typing.get_type_hints(target, include_extras=True)
    except (TypeError, ValueError, NameError) as exc:
        message = f"tool {tool}: cannot read its signature ({exc}); give `parameters`"
        raise ConfigError(message) from None
    properties: dict[str, Any] = {}
    required: list[str] = []
    extra = False
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            extra = True
            continue
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY):
            raise ConfigError(
                f"tool {tool}: parameter {parameter.name!r} cannot be passed by name; "
                "a tool is called with keyword arguments"
            )
        hint = hints.get(parameter.name, Any)
        try:
            properties[parameter.name] = schema_of(hint)
        except TypeError as exc:
            raise ConfigError(
                f"tool {tool}: parameter {parameter.name!r}: {exc}; give `parameters`"
            ) from None
        if parameter.default is inspect.Parameter.empty:
            required.append(parameter.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = extra
    return schema


def schema_of(hint: Any) -> dict[str, Any]:
    """The JSON Schema of one type hint; ``TypeError`` when it has none."""
    if hint is Any or hint is inspect.Parameter.empty:
        return {}
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        schema = schema_of(args[0])
        notes = [note for note in args[1:] if isinstance(note, str)]
        if notes:
            schema["description"] = " ".join(notes)
        return schema
    if origin is list:
        return {"type": "array", "items": schema_of(args[0])} if args else {"type": "array"}
    if origin is dict:
        return {"type": "object"}
    if origin is Literal:
        schema = {"enum": list(args)}
        kinds = {_SIMPLE.get(type(value)) for value in args}
        if len(kinds) == 1 and None not in kinds:
            schema["type"] = kinds.pop()
        return schema
    if origin is Union or origin is types.UnionType:
        options = [a for a in args if a is not type(None)]
        nullable = len(options) < len(args)
        inner = (
            schema_of(options[0])
            if len(options) == 1
            else {"anyOf": [schema_of(option) for option in options]}
        )
        return _or_null(inner) if nullable else inner
    raise TypeError(f"no JSON Schema for the type {hint!r}")


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str):
        schema = {**schema, "type": [kind, "null"]}
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        return schema
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    return {"anyOf": [schema, {"type": "null"}]}


# --- checking a schema ---------------------------------------------------------------------------


def schema_problem(schema: Any, *, top: bool = True) -> tuple[str, str] | None:
    """What is wrong with a tool's ``parameters`` schema, as (path in the schema, problem); None
    when nothing is. The top must be ``type: object``, as OpenAI's API requires."""
    if not isinstance(schema, dict):
        return "", "must be a JSON Schema object"
    if top and schema.get("type") != "object":
        return "type", 'must be "object"'
    return _schema_problem(schema, "")


def _schema_problem(schema: Any, path: str) -> tuple[str, str] | None:
    def at(key: str) -> str:
        return f"{path}.{key}" if path else key

    if isinstance(schema, bool):  # true: anything; false: nothing
        return None
    if not isinstance(schema, dict):
        return path, "must be a JSON Schema object"
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not kinds or not all(isinstance(k, str) and k in JSON_TYPES for k in kinds):
            return at("type"), f"must be one or a list of {', '.join(sorted(JSON_TYPES))}"
    properties = schema.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            return at("properties"), "must be an object"
        for name, sub in properties.items():
            if (problem := _schema_problem(sub, f"{at('properties')}.{name}")) is not None:
                return problem
    required = schema.get("required")
    if required is not None and (
        not isinstance(required, list) or not all(isinstance(r, str) for r in required)
    ):
        return at("required"), "must be a list of property names"
    for key in ("additionalProperties", "items"):
        if key in schema and (problem := _schema_problem(schema[key], at(key))) is not None:
            return problem
    for key in _SCHEMA_LISTS:
        if key in schema:
            subs = schema[key]
            if not isinstance(subs, list) or not subs:
                return at(key), "must be a non-empty list of schemas"
            for i, sub in enumerate(subs):
                if (problem := _schema_problem(sub, f"{at(key)}[{i}]")) is not None:
                    return problem
    if "enum" in schema and not isinstance(schema["enum"], list):
        return at("enum"), "must be a list"
    for key in _NUMBERS:
        value = schema.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            return at(key), "must be a number"
    for key in _COUNTS:
        value = schema.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return at(key), "must be an integer"
    if "pattern" in schema:
        try:
            re.compile(schema["pattern"])
        except (TypeError, re.error):
            return at("pattern"), "must be a regular expression"
    ref = schema.get("$ref")
    if ref is not None and (not isinstance(ref, str) or not _REF.match(ref)):
        return at("$ref"), "only #/$defs/NAME and #/definitions/NAME are supported"
    for key in ("$defs", "definitions"):
        defs = schema.get(key)
        if defs is not None:
            if not isinstance(defs, dict):
                return at(key), "must be an object"
            for name, sub in defs.items():
                if (problem := _schema_problem(sub, f"{at(key)}.{name}")) is not None:
                    return problem
    return None


_REF = re.compile(r"^#/(\$defs|definitions)/([^/]+)$")


# --- checking arguments --------------------------------------------------------------------------


def argument_problem(value: Any, schema: dict[str, Any]) -> str | None:
    """Why ``value`` (the parsed arguments) does not fit ``schema``; None when it does."""
    return _problem(value, schema, "", schema)


def _problem(value: Any, schema: Any, path: str, root: dict[str, Any]) -> str | None:
    where = f"`{path}`" if path else "the arguments"
    if schema is True or schema == {}:
        return None
    if schema is False:
        return f"{where}: not allowed"
    if not isinstance(schema, dict):
        return None
    if isinstance(ref := schema.get("$ref"), str):
        match = _REF.match(ref)
        target = root.get(match.group(1), {}).get(match.group(2)) if match else None
        if target is None:
            return f"{where}: the schema's {ref} is not defined"
        if (problem := _problem(value, target, path, root)) is not None:
            return problem
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_is(value, k) for k in kinds):
            return f"{where} must be {' or '.join(kinds)}, not {_json_type(value)}"
    if "enum" in schema and not any(_same(value, v) for v in schema["enum"]):
        return f"{where} must be one of {', '.join(_show(v) for v in schema['enum'])}"
    if "const" in schema and not _same(value, schema["const"]):
        return f"{where} must be {_show(schema['const'])}"
    if isinstance(value, dict):
        if (problem := _object_problem(value, schema, path, root)) is not None:
            return problem
    elif isinstance(value, list):
        if (problem := _array_problem(value, schema, path, root)) is not None:
            return problem
    elif isinstance(value, str):
        if (problem := _string_problem(value, schema, where)) is not None:
            return problem
    elif (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (problem := _number_problem(value, schema, where)) is not None
    ):
        return problem
    return _combined_problem(value, schema, path, root, where)


def _object_problem(
    value: dict[str, Any], schema: dict[str, Any], path: str, root: dict[str, Any]
) -> str | None:
    properties = schema.get("properties") or {}
    for name in schema.get("required") or ():
        if name not in value:
            return f"`{_join(path, name)}` is required"
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            if (problem := _problem(item, properties[name], _join(path, name), root)) is not None:
                return problem
        elif extra is False:
            allowed = ", ".join(properties) or "none"
            return f"`{_join(path, name)}` is not a parameter (known: {allowed})"
        elif (
            isinstance(extra, dict)
            and (problem := _problem(item, extra, _join(path, name), root)) is not None
        ):
            return problem
    return None


def _array_problem(
    value: list[Any], schema: dict[str, Any], path: str, root: dict[str, Any]
) -> str | None:
    where = f"`{path}`" if path else "the arguments"
    if (low := schema.get("minItems")) is not None and len(value) < low:
        return f"{where} needs at least {low} item(s)"
    if (high := schema.get("maxItems")) is not None and len(value) > high:
        return f"{where} takes at most {high} item(s)"
    items = schema.get("items")
    if items is not None:
        for i, item in enumerate(value):
            if (problem := _problem(item, items, f"{path}[{i}]", root)) is not None:
                return problem
    return None


def _string_problem(value: str, schema: dict[str, Any], where: str) -> str | None:
    if (low := schema.get("minLength")) is not None and len(value) < low:
        return f"{where} must be at least {low} character(s) long"
    if (high := schema.get("maxLength")) is not None and len(value) > high:
        return f"{where} must be at most {high} character(s) long"
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and re.search(pattern, value) is None:
        return f"{where} must match {pattern!r}"
    return None


def _number_problem(value: float, schema: dict[str, Any], where: str) -> str | None:
    checks: tuple[tuple[str, Callable[[float, float], bool], str], ...] = (
        ("minimum", lambda v, b: v >= b, ">="),
        ("maximum", lambda v, b: v <= b, "<="),
        ("exclusiveMinimum", lambda v, b: v > b, ">"),
        ("exclusiveMaximum", lambda v, b: v < b, "<"),
    )
    for key, holds, sign in checks:
        bound = schema.get(key)
        if (
            isinstance(bound, int | float)
            and not isinstance(bound, bool)
            and not holds(value, bound)
        ):
            return f"{where} must be {sign} {bound:g}"
    return None


def _combined_problem(
    value: Any, schema: dict[str, Any], path: str, root: dict[str, Any], where: str
) -> str | None:
    for sub in schema.get("allOf") or ():
        if (problem := _problem(value, sub, path, root)) is not None:
            return problem
    if "anyOf" in schema:
        problems = [_problem(value, sub, path, root) for sub in schema["anyOf"]]
        if all(p is not None for p in problems):
            return problems[0] if len(problems) == 1 else f"{where} fits none of the allowed shapes"
    if "oneOf" in schema:
        fits = sum(_problem(value, sub, path, root) is None for sub in schema["oneOf"])
        if fits != 1:
            return f"{where} must fit exactly one of the allowed shapes (fits {fits})"
    return None


def _is(value: Any, kind: str) -> bool:
    match kind:
        case "object":
            return isinstance(value, dict)
        case "array":
            return isinstance(value, list)
        case "string":
            return isinstance(value, str)
        case "integer":
            return isinstance(value, int) and not isinstance(value, bool)
        case "number":
            return isinstance(value, int | float) and not isinstance(value, bool)
        case "boolean":
            return isinstance(value, bool)
        case "null":
            return value is None
    return False


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _json_type(value: Any) -> str:
    for kind in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is(value, kind):
            return kind
    return type(value).__name__


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
