"""Imports every model so Base.metadata is complete (for Alembic and the tests)."""

from loomwork import uploads as _uploads
from loomwork.audit import models as _audit
from loomwork.db import tallies as _tallies
from loomwork.db.base import Base
from loomwork.engine import models as _engine
from loomwork.engine import search_models as _search
from loomwork.events import models as _events
from loomwork.generation import models as _generation
from loomwork.identity import models as _identity
from loomwork.resources import models as _resources

# Imported for what importing them does (each registers its tables on Base.metadata), named here so the
# import is plainly used.
MODEL_MODULES = (_uploads, _audit, _tallies, _engine, _search, _events, _generation, _identity, _resources)

metadata = Base.metadata
