"""All tables of the platform on one :class:`Base`; importing this package registers them.

Each room's tables live in their own module here (``core`` for the CRM itself);
add new modules to the import list below so Alembic and ``Base.metadata`` see them.
"""

from crm.models.base import Base
from crm.models.campaigns import *  # noqa: F403
from crm.models.core import *  # noqa: F403
from crm.models.core import __all__ as _core_all
from crm.models.gateway import *  # noqa: F403
from crm.models.hygiene import *  # noqa: F403
from crm.models.identity import *  # noqa: F403
from crm.models.loyalty import *  # noqa: F403
from crm.models.segments import *  # noqa: F403

__all__ = ["Base", *_core_all]
