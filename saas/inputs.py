"""Input limits in one place, before any view or schema sees the request.

Decisions:

- JSON bodies: at most :data:`MAX_DEPTH` levels of nesting (a 100,000-deep body would
  otherwise exhaust the parser's recursion), no NUL character and no lone UTF-16 surrogate
  in any key or string (Postgres and UTF-8 cannot store them), and no integer outside the
  signed 64-bit range (no column can hold one). The refusal is a 422 naming the field path.
- Query strings and form fields: no NUL, no lone surrogate, no other C0 control character
  except tab and newlines (multi-line form fields keep their line breaks). 400 naming the
  parameter.
- Single-line fields (names, titles, subjects) refuse line breaks and every other control
  character: :data:`single_line` is the marshmallow validator, :func:`line_problem` the check.
- Bodies are limited to ``MAX_CONTENT_LENGTH`` (16 MiB, uploads included) by Flask.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo

import flask_smorest
from flask import request
from flask.json.provider import DefaultJSONProvider
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, is_json_request

from .exceptions import Invalid

MAX_DEPTH = 32
INT64 = 2**63 - 1
_BAD_TEXT = re.compile(r"[\x00\ud800-\udfff]")
_BAD_PARAM = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def line_problem(value: str | None) -> str | None:
    """Why ``value`` cannot be a single-line field (a name, a title), or None."""
    if value and _CONTROL.search(value):
        return "Use a single line without control characters."
    return None


def single_line(value: str) -> None:
    """Marshmallow validator for single-line text fields."""
    from marshmallow import ValidationError

    if problem := line_problem(value):
        raise ValidationError(problem)


class InputRefused(Invalid):
    """A request whose raw input breaks the limits above."""

    default_reason = "invalid_input"


def _walk(value, path: str, depth: int, problems: dict[str, str]) -> None:
    if len(problems) >= 10:
        return
    if depth > MAX_DEPTH:
        problems[path or "$"] = f"Nested more than {MAX_DEPTH} levels deep."
        return
    if isinstance(value, str):
        if _BAD_TEXT.search(value):
            problems[path or "$"] = "Contains a character that cannot be stored."
    elif isinstance(value, bool) or value is None or isinstance(value, float):
        return
    elif isinstance(value, int):
        if not -INT64 - 1 <= value <= INT64:
            problems[path or "$"] = "Number out of range."
    elif isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if _BAD_TEXT.search(key):
                problems[path or "$"] = "A key contains a character that cannot be stored."
                continue
            _walk(item, sub, depth + 1, problems)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, f"{path}[{i}]", depth + 1, problems)


def check_json(value) -> None:
    """Raise :class:`InputRefused` naming each offending path of a parsed JSON body."""
    problems: dict[str, str] = {}
    _walk(value, "", 1, problems)
    if problems:
        raise InputRefused(problems)


def guarded_loads(s, **kwargs):
    """``json.loads`` with the limits above (raises :class:`InputRefused`)."""
    try:
        value = json.loads(s, **kwargs)
    except RecursionError as exc:
        raise InputRefused({"$": f"Nested more than {MAX_DEPTH} levels deep."}) from exc
    except json.JSONDecodeError:
        raise  # malformed JSON: the parser's own 400
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise InputRefused({"$": "Number out of range."}) from exc
    check_json(value)
    return value


#: Dates and instants the API accepts: wide enough for any birth date or booking, narrow
#: enough that date arithmetic (a day or a time zone added) can never overflow.
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2199, 12, 31)
#: Highest page number of a paginated list (its offset must stay far inside 64 bits).
MAX_PAGE = 1_000_000


def _dates_out_of_range(value, path: str, problems: dict[str, str]) -> None:
    if isinstance(value, dt.datetime | dt.date):
        day = value.date() if isinstance(value, dt.datetime) else value
        if not FIRST_DAY <= day <= LAST_DAY:
            problems[path or "$"] = f"Use a date between {FIRST_DAY.year} and {LAST_DAY.year}."
    elif isinstance(value, dict):
        for key, item in value.items():
            _dates_out_of_range(item, f"{path}.{key}" if path else str(key), problems)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _dates_out_of_range(item, f"{path}[{i}]", problems)


def check_dates(parsed, names: dict[str, str] | None = None) -> None:
    """Raise :class:`InputRefused` for any parsed date outside :data:`FIRST_DAY`..``LAST_DAY``.

    ``names`` maps a loaded attribute to the name the client sent (marshmallow's
    ``data_key``), so the error names the field as the client knows it.
    """
    problems: dict[str, str] = {}
    _dates_out_of_range(parsed, "", problems)
    if problems:
        names = names or {}
        raise InputRefused({names.get(k, k): v for k, v in problems.items()})


def _client_names(argmap) -> dict[str, str]:
    schema = argmap() if isinstance(argmap, type) else argmap
    fields_ = getattr(schema, "fields", None) or {}
    return {(f.attribute or name): (f.data_key or name) for name, f in fields_.items()}


class GuardedParser(FlaskParser):
    """The API's argument parser (webargs parses JSON itself, not through Flask).

    Besides the body limits, every parsed date or instant must lie in sensible years.
    """

    def parse(self, argmap, *args, **kwargs):
        """Parse as webargs does, then check the dates (and a page number) of the result."""
        parsed = super().parse(argmap, *args, **kwargs)
        page = getattr(parsed, "page", None)  # flask-smorest's PaginationParameters
        if isinstance(page, int) and page > MAX_PAGE:
            raise InputRefused({"page": f"Use a page number up to {MAX_PAGE:,}."})
        check_dates(parsed, _client_names(argmap))
        return parsed

    def _raw_load_json(self, req):
        data = req.get_data(cache=True)
        if req.method in ("PUT", "PATCH") and (not is_json_request(req) or not data.strip()):
            # a change without a body is a client mistake, not a successful no-op
            raise InputRefused({"$": "Send the changes as a JSON body."})
        if not is_json_request(req):
            return webargs_core.missing
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
        except UnicodeDecodeError as exc:
            raise json.JSONDecodeError("Body is not UTF-8", str(exc.object), exc.start) from exc
        return guarded_loads(text)


def install() -> None:
    """Use the guarded parser for every API blueprint (flask-smorest's documented hook)."""
    flask_smorest.Blueprint.ARGUMENTS_PARSER = GuardedParser()
    flask_smorest.Blueprint.PAGINATION_ARGUMENTS_PARSER = GuardedParser()


class GuardedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with the body limits applied on every parse."""

    def loads(self, s, **kwargs):
        """Parse, refusing what :func:`check_json` refuses and nesting too deep to parse."""
        return guarded_loads(s, **kwargs)


def check_params() -> None:
    """``before_request``: refuse control characters in query and form parameters."""
    problems = {}
    sources = [request.args]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sources.append(request.form)
    for source in sources:
        for key, value in source.items(multi=True):
            if _BAD_PARAM.search(key) or _BAD_PARAM.search(value):
                problems[key[:64]] = "Contains a control character."
    if problems:
        raise InputRefused(problems)


def seq_param(name: str) -> int | None:
    """A positive 64-bit integer query parameter (a page cursor), None when absent.

    Anything else is a 422 naming the parameter (not a database range error).
    """
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 19 or not 0 < int(raw) <= INT64:
        raise InputRefused({name: "Use a positive whole number."})
    return int(raw)


#: IANA zones only: not ``localtime`` (the server's own zone: schedules would follow the
#: host's configuration), ``Factory``, or the ``posix/`` and ``right/`` trees.
IANA_ZONES = frozenset(
    z
    for z in zoneinfo.available_timezones()
    if z not in ("localtime", "Factory") and not z.startswith(("posix/", "right/"))
)


def timezone_problem(name: str | None) -> str | None:
    """Why ``name`` is not an IANA time zone, or None (clinics and locations alike)."""
    if name in IANA_ZONES:
        return None
    return "Choose an IANA time zone such as Europe/London or Asia/Kolkata."
