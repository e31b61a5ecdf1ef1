"""The one family of domain errors. Services raise these; they know nothing of HTTP.

:mod:`saas.errors` maps each kind once: JSON (``message``, per-field ``errors``,
machine-readable ``reason``) for the API, a form message or a friendly page for the HTML
surfaces. Views never catch-and-translate one by one.

Decisions:

- A refusal names the fields at fault (``errors``: field -> message) so a form can show an
  inline error and the API can name the field; ``reason`` is a stable code clients branch on
  (``slot_taken``, ``too_soon``...).
- ``NotFound`` is used alike for "missing" and "another clinic's": no existence oracle.
- ``DomainError("text")`` or ``Invalid({"field": "text"})`` both work: a dict as the first
  argument is the field errors, and the message joins them.
"""

from __future__ import annotations


class DomainError(Exception):
    """A refused request. Subclasses say what kind of refusal it is."""

    default_message = "The request was refused."
    default_reason: str | None = None

    def __init__(
        self,
        message: str | dict[str, str] | None = None,
        *,
        errors: dict[str, str] | None = None,
        reason: str | None = None,
    ):
        if isinstance(message, dict):
            errors, message = {**message, **(errors or {})}, None
        self.errors: dict[str, str] = dict(errors or {})
        if message is None:
            message = (
                "; ".join(f"{k}: {v}" for k, v in self.errors.items())
                if self.errors
                else self.default_message
            )
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason


class Invalid(DomainError):
    """The input breaks a rule (a field's value, or a business rule about it)."""

    default_message = "Please correct the marked fields."


class UnsupportedType(Invalid):
    """An upload or body of a kind we do not accept."""

    default_message = "This type of content is not accepted."


class TooLarge(Invalid):
    """An upload or body over its size limit."""

    default_message = "This is too large."


class NotFound(DomainError):
    """No such object in this clinic (or not visible to this actor)."""

    default_message = "Not found."
    default_reason = "not_found"


class Forbidden(DomainError):
    """The actor may not do this."""

    default_message = "You are not allowed to do this."
    default_reason = "forbidden"


class Unauthenticated(DomainError):
    """The actor could not be identified (wrong credentials, expired token)."""

    default_message = "Please sign in."


class Conflict(DomainError):
    """The request conflicts with the current state (taken slot, duplicate name...)."""

    default_message = "This conflicts with the current state."


class Gone(Conflict):
    """The object existed but is no longer available (used up, expired, destroyed)."""

    default_message = "This is no longer available."
    default_reason = "gone"


class Locked(DomainError):
    """Temporarily refused after too many attempts."""

    default_message = "Too many attempts. Try again later."
    default_reason = "locked"


class Unavailable(DomainError):
    """A dependency (key store, payment provider) is down; nothing was changed."""

    default_message = "Temporarily unavailable. Try again shortly."
    default_reason = "unavailable"


def not_found(what: str, field: str | None = None) -> NotFound:
    """The same 404 for "missing" and "another clinic's", naming ``field`` when given."""
    return NotFound(f"No such {what}.", errors={field: f"Unknown {what}."} if field else None)
