"""The artifact kinds Loomwork serves; each is a declaration in its own module."""

from loomwork.engine.declaration import ArtifactKind
from loomwork.kinds.eval import EVAL
from loomwork.kinds.invocation import INVOCATION
from loomwork.kinds.persona import PERSONA
from loomwork.kinds.tool import TOOL

ARTIFACT_KINDS: tuple[ArtifactKind, ...] = (PERSONA, TOOL, EVAL, INVOCATION)
KINDS_BY_PLURAL: dict[str, ArtifactKind] = {kind.plural: kind for kind in ARTIFACT_KINDS}


def hidden_flag_types(kind: ArtifactKind) -> tuple[str, ...]:
    """Another kind's catalog flags (tool_active, eval_role) are no option in this kind's flags section."""
    return tuple(t for other in ARTIFACT_KINDS for t in other.own_flag_types if t not in kind.own_flag_types)
