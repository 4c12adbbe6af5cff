"""Errors that exist only in the Bitrix dialect; code and status are class attributes."""

from __future__ import annotations

from relatecrm.errors import CrmError


class BitrixError(CrmError):
    """Internal server error"""

    code = "INTERNAL_SERVER_ERROR"
    status = 500


class MethodNotFound(BitrixError):
    """Method not found!"""

    code = "ERROR_METHOD_NOT_FOUND"
    status = 404


class NoAuthFound(BitrixError):
    """Wrong authorization data"""

    code = "NO_AUTH_FOUND"
    status = 401


class InvalidCredentials(BitrixError):
    """Invalid request credentials"""

    code = "INVALID_CREDENTIALS"
    status = 403


class InsufficientScope(BitrixError):
    """The request requires higher privileges than provided by the webhook token"""

    code = "insufficient_scope"
    status = 403


class WrongTransport(BitrixError):
    """Wrong transport! Only JSON output is supported."""

    code = "INTERNAL_WRONG_TRANSPORT"
    status = 400


class RequestTooLarge(BitrixError):
    """Request body is too large."""

    code = "ERROR_REQUEST_TOO_LARGE"
    status = 413


class ArgumentError(BitrixError):
    """Invalid request arguments."""

    code = "ERROR_ARGUMENT"
    status = 400

    def __init__(self, message: str, argument: str) -> None:
        self.argument = argument
        super().__init__(message)


class ItemNotFound(BitrixError):
    """Item not found"""

    code = "NOT_FOUND"
    status = 400


class SmartProcessNotFound(BitrixError):
    """Smart process not found"""

    code = "NOT_FOUND"
    status = 400


class FieldValueNotValid(BitrixError):
    """Invalid value for field"""

    code = "CRM_FIELD_ERROR_VALUE_NOT_VALID"
    status = 400


class ExpectedIterable(BitrixError):
    """Expected iterable value for multiple field"""

    code = "100"
    status = 400


# crm.item.productrow.*: the engine controller's own codes (Crm\Controller\ErrorCode).


class OwnerNotFound(BitrixError):
    """Owner was not found"""

    code = "OWNER_NOT_FOUND"
    status = 400


class OwnerTypeNotSupported(BitrixError):
    """Entity type  is not supported"""

    code = "ENTITY_TYPE_NOT_SUPPORTED"
    status = 400


class RequiredArgumentMissing(BitrixError):
    """A required argument is missing"""

    code = "REQUIRED_ARG_MISSING"
    status = 400

    def __init__(self, argument: str) -> None:
        super().__init__(f"Argument '{argument}' is required")


class InvalidArgumentValue(BitrixError):
    """Invalid values for input parameters"""

    code = "INVALID_ARG_VALUE"
    status = 400


class ControllerAccessDenied(BitrixError):
    """Access denied"""

    code = "ACCESS_DENIED"
    status = 400


class LinkAccessDenied(BitrixError):
    """Access denied!"""

    # crm.deal.contact.*: the caller may not touch *this* deal (deals spec §5.7).
    code = "ACCESS_DENIED"
    status = 400


# crm.item.*: a mandatory custom field left empty (Crm\Field::ERROR_CODE_REQUIRED_FIELD_ATTRIBUTE).


class FieldRequired(BitrixError):
    """The field is required."""

    code = "CRM_FIELD_ERROR_REQUIRED"
    status = 400


# batch: per-command errors. They appear in `result_error` of an HTTP 200 batch; the status
# is the one the docs list, used only if such an error ever answers a request on its own.


class BatchLengthExceeded(BitrixError):
    """Max batch length exceeded"""

    code = "ERROR_BATCH_LENGTH_EXCEEDED"
    status = 400


class BatchMethodNotAllowed(BitrixError):
    """Method is not allowed for batch usage"""

    code = "ERROR_BATCH_METHOD_NOT_ALLOWED"
    status = 405


# OAuth access tokens on /rest (rest/lib/oauth/auth.php). 401 only where a refresh or a
# new authorization can help: fast_bitrix24 refreshes on every 401, without a limit.


class ExpiredToken(BitrixError):
    """The access token provided has expired"""

    code = "expired_token"
    status = 401


class InvalidToken(BitrixError):
    """The access token provided is invalid"""

    code = "invalid_token"
    status = 401


class ApplicationNotFound(BitrixError):
    """Application not found"""

    code = "APPLICATION_NOT_FOUND"
    status = 401


class AuthorizationError(BitrixError):
    """Unable to authorize user"""

    code = "authorization_error"
    status = 401


class InsufficientTokenScope(InsufficientScope):
    """The request requires higher privileges than provided by the access token"""


# event.* (rest/lib/eventtable.php, authtypeexception.php; protocol spec §6.1).


class WrongAuthType(BitrixError):
    """Current authorization type is denied for this method"""

    # AuthTypeException extends AccessException: 403. Events need an application context.
    code = "WRONG_AUTH_TYPE"
    status = 403


class EventNotFound(BitrixError):
    """Event not found"""

    code = "ERROR_EVENT_NOT_FOUND"
    status = 400


class HandlerAlreadyExists(BitrixError):
    """Handler already exists!"""

    code = "ERROR_HANDLER_ALREADY_EXIST"
    status = 400


class WrongHandlerUrl(BitrixError):
    """Wrong handler URL"""

    code = "ERROR_WRONG_HANDLER_URL"
    status = 400


class EventAccessDenied(BitrixError):
    """Access denied!"""

    code = "ACCESS_DENIED"
    status = 403
