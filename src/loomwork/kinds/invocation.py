"""Invocation: how a model is called. Reads like the invocation table of API.md section 3."""

from loomwork.engine.declaration import ArtifactKind, facet, many, single

INVOCATION = ArtifactKind(
    name="invocation",
    plural="invocations",
    title="Invocation",
    description="How a model is called: key, endpoint, modalities, temperature, pricing, reasoning level and quality.",
    legacy_draft_path="/test/draft",
    slots=(
        single("name", required=True, description="Display name."),
        single("description", description="What the invocation is for."),
        single("value", description="The value the invocation carries."),
        many("flag", description="Catalog flags {type, value}, at most one per type (invocation_active)."),
        many("department", description="Departments."),
        single("key", description="The provider key {name, secret}; shown masked, never in plain."),
        single("endpoint", description="The provider endpoint."),
        many("modality", section="modalities", description="Modalities."),
        single("temperature_level", description="Temperature level."),
        single("pricing", description="Pricing tier."),
        single("reasoning_level", description="Reasoning level."),
        many("quality", section="qualities", description="Quality levels."),
        many("voice", description="Voices."),
        many("model_flag", description="Per-model flags {model_id, flag_id}."),
        many("model_position", description="Model positions."),
        many("model_rubric", description="Model rubrics."),
    ),
    facets=(facet("department"), facet("modality"), facet("endpoint")),
    steps=("basic", "content", "models_step"),
    # Which model answers first, and which one takes over when it fails.
    catalog_flags=(("invocation_role", ("primary", "fallback")),),
)
