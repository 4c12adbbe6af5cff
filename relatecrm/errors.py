"""Domain errors, neutral to the wire dialect.

Each class's docstring is its default message; each dialect maps classes to its
own codes and statuses in one table (``bitrix/envelope.py``).

    CrmError
    ├── NotFound
    │   ├── CategoryNotFound, StatusNotFound
    │   ├── ProductNotFound, MeasureNotFound, VatRateNotFound, ProductRowNotFound
    │   └── UserFieldNotFound    crm.deal.userfield.*: ERROR_NOT_FOUND
    ├── AccessDenied              no right for the action at all
    │   └── RecordAccessDenied    a record outside the caller's rights ("own")
    ├── InvalidId
    │   ├── InvalidStatusId
    │   └── InvalidLinkOwner      crm.deal.contact.*: the deal id
    ├── InvalidParameter          a parameter has the wrong shape ("must be array")
    ├── InvalidFieldValue         a field value cannot be coerced or is not allowed
    ├── RequiredFieldMissing      a mandatory custom field has no value
    ├── InvalidFilter             filter names an unknown field or has a bad value
    ├── InvalidOrder              order names an unknown field or a bad direction
    ├── UnsupportedEntityType     an entityTypeId other than deals
    ├── CategoryRemovalDisabled, CategoryNotEmpty, InvalidCategoryField   funnels
    ├── StatusError               reference lists: required fields, protected or used rows
    ├── DuplicateStatus
    ├── InvalidLink, InvalidLinkItems, UnknownContact         deal-contact links
    ├── ProductNameMissing, InadmissibleSelect                 the catalog
    ├── UserFieldError (ERROR_CORE), UserFieldRequired       custom field definitions
    └── ProductRowError, deals.pricing.PricingError    product rows (ERROR_CORE)
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


class RecordAccessDenied(AccessDenied):
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


# Funnels (categories): engine-controller errors, each with its own code on the wire.

# CRM type names Bitrix reports in "Entity type X is not supported".
ENTITY_TYPE_NAMES = {1: "LEAD", 3: "CONTACT", 4: "COMPANY", 5: "INVOICE", 7: "QUOTE",
                     31: "SMART_INVOICE", 36: "SMART_DOCUMENT"}  # fmt: skip


class UnsupportedEntityType(CrmError):
    """Entity type is not supported"""

    def __init__(self, entity_type_id: int) -> None:
        self.entity_type_id = entity_type_id
        label = ENTITY_TYPE_NAMES.get(entity_type_id, str(entity_type_id))
        super().__init__(f"Entity type {label} is not supported")


class CategoryNotFound(NotFound):
    """Element not found"""


class CategoryRemovalDisabled(CrmError):
    """Deletion of system category is prohibited"""


class CategoryNotEmpty(CrmError):
    """Elements related to the funnel found"""


class InvalidCategoryField(CrmError):
    """Invalid value for field"""

    def __init__(self, title: str) -> None:
        self.title = title
        super().__init__(f'Invalid value for field "{title}"')


# Reference lists (crm.status.*): classic errors, empty code, the exact Bitrix messages.


class StatusNotFound(NotFound):
    """Status is not found."""


class InvalidStatusId(InvalidId):
    """Invalid identifier."""


class StatusError(CrmError):
    """Invalid status."""


class StatusFieldRequired(StatusError):
    """A required field is empty."""

    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__(f"The field {field} is required.")


class StatusEntityNotSupported(StatusError):
    """Specified entity type is not supported."""


class InvalidStatusEntity(StatusError):
    """The parameter entityId is not defined or invalid."""


class InvalidStatusCode(StatusError):
    """Invalid STATUS_ID."""


class SystemStatusProtected(StatusError):
    """CRM System Status can be deleted only if parameter FORCED is specified and equal to "Y"."""


class StatusInUse(StatusError):
    """There are active items in this status."""


class StageAfterFinal(StatusError):
    """Cannot create more stages after the final stage."""


class DuplicateStatus(CrmError):
    """The specified status ID already exists."""


# Deal-contact links (crm.deal.contact.*).


class InvalidLinkOwner(InvalidId):
    """The parameter 'ownerEntityID' is invalid or not defined."""

    @classmethod
    def unquoted(cls) -> InvalidLinkOwner:
        """The ``items.*`` methods name the parameter without quotes."""
        return cls("The parameter ownerEntityID is invalid or not defined.")


class InvalidLink(CrmError):
    """The parameter 'fields' is not valid."""


class InvalidLinkItems(CrmError):
    """The parameter items is not valid."""


class UnknownContact(CrmError):
    """A link names a contact that does not exist."""

    def __init__(self, contact_id: int) -> None:
        self.contact_id = contact_id
        super().__init__(f"Contact {contact_id} is not found.")


# Product catalog and product rows (crm.product.*, crm.deal.productrows.*, crm.item.productrow.*).


class ProductNotFound(NotFound):
    """Product is not found."""


class ProductNameMissing(CrmError):
    """Name is not specified."""


class MeasureNotFound(NotFound):
    """Not found"""


class VatRateNotFound(NotFound):
    """VAT rate not found."""


class InadmissibleSelect(CrmError):
    """Inadmissible fields for selection"""


# Product rows: row validation fails like Bitrix's ERROR_CORE texts, ending in "<br>".


class ProductRowError(CrmError):
    """Invalid product row.<br>"""


class InvalidRowValue(ProductRowError):
    """A product row field cannot be read as its type, or is out of range."""

    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__(f'Invalid value for the "{field}" field of a product row.<br>')


class RowProductNotFound(ProductRowError):
    """A row names a catalog product that does not exist."""

    def __init__(self, product_id: int) -> None:
        self.product_id = product_id
        super().__init__(f"The product with ID {product_id} was not found in the catalog.<br>")


class RowsTotalOutOfRange(ProductRowError):
    """The total of the product rows is out of range.<br>"""


class ProductRowNotFound(NotFound):
    """Item not found"""


# Custom field values.


class RequiredFieldMissing(CrmError):
    """A MANDATORY custom field is missing or empty on add, or emptied on update."""

    def __init__(self, field: str, title: str) -> None:
        self.field = field
        self.title = title
        # Bitrix's user-field check (CAdminException) ends each message with "<br>".
        super().__init__(f"The required field {title} is missing.<br>")


# Custom fields (crm.deal.userfield.*).


class UserFieldError(CrmError):
    """Invalid custom field."""


class UserFieldNameTooLong(UserFieldError):
    """Field name is too long (more than 50 characters)."""


class UserFieldNameInvalid(UserFieldError):
    """Field name contains invalid characters. Allowed characters are: A-Z, 0-9 and _."""


class UserFieldTypeInvalid(UserFieldError):
    """Incorrect custom type specified."""


class DuplicateUserField(UserFieldError):
    """The field already exists."""

    def __init__(self, field_name: str, entity_id: str) -> None:
        self.field_name = field_name
        super().__init__(f"The field {field_name} for the {entity_id} object already exists.")


class DuplicateEnumXmlId(UserFieldError):
    """A list item's XML_ID is taken."""

    def __init__(self, xml_id: str) -> None:
        self.xml_id = xml_id
        super().__init__(f"List item with value XML_ID={xml_id} already exists.")


class UserFieldRequired(CrmError):
    """FIELD_NAME or USER_TYPE_ID is missing (one line per missing field, as Bitrix)."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        super().__init__("\n".join(f"The '{name}' field is not found." for name in names))


class UserFieldNotFound(NotFound):
    """No custom field with this ID."""

    def __init__(self, field_id: int) -> None:
        self.field_id = field_id
        super().__init__(f"The entity with ID '{field_id}' is not found.")
