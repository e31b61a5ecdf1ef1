"""OpenAPI component names and field fixes for marshmallow schemas.

Each feature names its schemas freely (``Location`` may exist in two features), so
components are named by module and class (``admin.practice_schemas.Location``). Schema
instances with modifiers (``partial``, ``only``, ``exclude``) are inlined instead of named.
"""

from __future__ import annotations

import copy

from apispec import BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from flask_smorest import Api
from marshmallow import Schema, fields


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


_FORMAT_PATTERNS = {"%H:%M": r"^([01][0-9]|2[0-3]):[0-5][0-9]$"}


def _valid_keywords(self, field, ret, **kwargs) -> dict:
    """Drop keywords apispec left as null (invalid OAS) and describe custom time formats.

    apispec answers ``format: null, pattern: null`` for a ``Time``/``DateTime`` field with a
    custom format; tools that validate the document (schemathesis, generators) refuse it.
    """
    fmt = getattr(field, "format", None)
    for key in [k for k, v in ret.items() if v is None]:
        del ret[key]
    if isinstance(fmt, str) and fmt in _FORMAT_PATTERNS and "pattern" not in ret:
        ret["pattern"] = _FORMAT_PATTERNS[fmt]
    return {}


#: ``X-Pagination`` carries a JSON object serialised into the header value: documented as the
#: string it is (flask-smorest declares it as an object, which no header can be).
PAGINATION_HEADER = {
    "description": "Pagination metadata: a JSON object with total, total_pages, first_page, "
    "last_page, page, previous_page and next_page.",
    "schema": {"type": "string", "example": '{"total": 120, "total_pages": 3, "page": 1}'},
}


def install(api) -> None:
    """Add the field fixes to ``api``'s converter and document headers as they are sent."""
    api.ma_plugin.converter.add_attribute_function(_valid_keywords)
    components = api.spec.components
    if "PAGINATION" in components.headers_lazy:
        components.headers_lazy["PAGINATION"] = PAGINATION_HEADER


class ErrorSchema(Schema):
    """Every error answer of the API (see :mod:`saas.errors`)."""

    code = fields.Integer(metadata={"description": "HTTP status code"})
    status = fields.String(metadata={"description": "HTTP status name"})
    message = fields.String(metadata={"description": "What went wrong, for people"})
    errors = fields.Dict(
        metadata={"description": "Field errors by request part: {json|query: {field: [msg]}}"}
    )
    reason = fields.String(
        metadata={"description": "Machine-readable cause (slot_taken, too_soon, not_found...)"}
    )


class SimiliaApi(Api):
    """flask-smorest's Api with our error schema in the document."""

    ERROR_SCHEMA = ErrorSchema


#: The one security scheme of the API (``Authorization: Bearer sim_...`` or ``simp_...``).
BEARER = [{"bearer": []}]


def public_operation(view):
    """Mark an API operation as needing no token (documented as ``security: []``).

    Works below or above flask-smorest's decorators: it merges into the view's ``_apidoc``
    the way ``Blueprint.doc`` does.
    """
    apidoc = copy.deepcopy(getattr(view, "_apidoc", {}))
    apidoc.setdefault("manual_doc", {})["security"] = []
    view._apidoc = apidoc
    return view


class SecurityPlugin(BasePlugin):
    """Every operation declares its security: the bearer scheme unless marked public."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        """Fill ``security`` on each operation of ``path`` that does not say."""
        for method, operation in (operations or {}).items():
            if method in ("get", "put", "post", "patch", "delete") and "security" not in operation:
                operation["security"] = copy.deepcopy(BEARER)
