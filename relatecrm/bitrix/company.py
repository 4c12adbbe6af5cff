"""``crm.company.*`` handlers: the contact handlers over the company field table."""

from __future__ import annotations

from relatecrm.bitrix.contact import ClientMethods
from relatecrm.contacts.fields import COMPANY

COMPANIES = ClientMethods(COMPANY)
