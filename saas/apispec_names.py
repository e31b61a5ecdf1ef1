"""OpenAPI component names for marshmallow schemas.

Each feature names its schemas freely (``Location`` may exist in two features), so
components are named by module and class (``admin.practice_schemas.Location``). Schema
instances with modifiers (``partial``, ``only``, ``exclude``) are inlined instead of named.
"""

from __future__ import annotations

from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from marshmallow import Schema


def schema_name(schema) -> str | None:
    """Component name for ``schema``, or None to inline it."""
    if isinstance(schema, Schema) and (schema.partial or schema.only or schema.exclude):
        return None
    cls = resolve_schema_cls(schema)
    name = cls.__name__.removesuffix("Schema") or cls.__name__
    return f"{cls.__module__}.{name}"


def marshmallow_plugin() -> MarshmallowPlugin:
    """The plugin flask-smorest uses, with our naming."""
    return MarshmallowPlugin(schema_name_resolver=schema_name)
