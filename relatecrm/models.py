"""Imports every domain's tables so that ``db.metadata`` knows the whole schema."""

from relatecrm.accounts import models as accounts
from relatecrm.contacts import models as contacts
from relatecrm.deals import models as deals
from relatecrm.events import models as events
from relatecrm.limits import models as limits
from relatecrm.pipelines import history
from relatecrm.pipelines import models as pipelines
from relatecrm.products import models as products
from relatecrm.userfields import models as userfields

__all__ = [
    "accounts",
    "contacts",
    "deals",
    "events",
    "history",
    "limits",
    "pipelines",
    "products",
    "userfields",
]
