"""Imports every model so Base.metadata is complete (for Alembic and the tests)."""

from loomwork import uploads as _uploads  # noqa: F401
from loomwork.audit import models as _audit  # noqa: F401
from loomwork.db import tallies as _tallies  # noqa: F401
from loomwork.db.base import Base
from loomwork.engine import models as _engine  # noqa: F401
from loomwork.engine import search_models as _search  # noqa: F401
from loomwork.events import models as _events  # noqa: F401
from loomwork.generation import models as _generation  # noqa: F401
from loomwork.identity import models as _identity  # noqa: F401
from loomwork.resources import models as _resources  # noqa: F401

metadata = Base.metadata
