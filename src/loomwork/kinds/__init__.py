"""The artifact kinds Loomwork serves; each is a declaration in its own module."""

from loomwork.engine.declaration import ArtifactKind
from loomwork.kinds.persona import PERSONA

ARTIFACT_KINDS: tuple[ArtifactKind, ...] = (PERSONA,)
