"""Domain errors, neutral to the wire dialect.

Each class's docstring is its default message; each dialect maps classes to its
own codes and statuses in one table (``bitrix/envelope.py``).

    CrmError
    ├── NotFound
    ├── AccessDenied
    ├── InvalidId
    ├── InvalidParameter          a parameter has the wrong shape ("must be array")
    ├── InvalidFieldValue         a field value cannot be coerced or is not allowed
    ├── InvalidFilter             filter names an unknown field or has a bad value
    └── InvalidOrder              order names an unknown field or a bad direction
"""

from __future__ import annotations


class CrmError(Exception):
    """Internal error."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message is not None else (self.__doc__ or "").strip()
        super().__init__(self.message)


class NotFound(CrmError):
    """Not found."""


class AccessDenied(CrmError):
    """Access denied."""


class InvalidId(CrmError):
    """ID is not defined or invalid."""


class InvalidParameter(CrmError):
    """Invalid parameter."""

    @classmethod
    def must_be_array(cls, name: str) -> InvalidParameter:
        return cls(f"Parameter '{name}' must be array.")


class InvalidFieldValue(CrmError):
    """Invalid field value."""

    def __init__(self, field: str, title: str) -> None:
        self.field = field
        super().__init__(f'Invalid value for the "{title}" field.')


class InvalidFilter(CrmError):
    """Invalid filter."""

    @classmethod
    def field_not_allowed(cls, field: str) -> InvalidFilter:
        return cls(f"Invalid filter: field '{field}' is not allowed in filter")

    @classmethod
    def bad_value(cls, field: str) -> InvalidFilter:
        return cls(f"Invalid filter: field '{field}' has invalid value")


class InvalidOrder(CrmError):
    """Invalid order."""

    @classmethod
    def field_not_allowed(cls, field: str) -> InvalidOrder:
        return cls(f"Invalid order: field '{field}' is not allowed in order")

    @classmethod
    def bad_direction(cls, field: str, direction: str) -> InvalidOrder:
        return cls(
            "Invalid order: allowed sort directions are ASC, DESC. "
            f"But got '{direction}' for field '{field}'"
        )
