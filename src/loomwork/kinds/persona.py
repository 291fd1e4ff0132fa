"""Persona: who an agent is. Reads like the persona table of API.md section 3."""

from loomwork.engine.declaration import ArtifactKind, TemplateParameters, facet, many, single

PERSONA = ArtifactKind(
    name="persona",
    plural="personas",
    title="Persona",
    description="Who an agent is: its name, look, instructions, examples, voices and the departments it serves.",
    legacy_draft_path="/persona/draft",
    slots=(
        single("name", required=True, description="Display name."),
        single("description", description="What the persona is for."),
        single("color", description="Hex color."),
        single("icon", description="SVG icon."),
        single(
            "instructions",
            "instruction",
            section="instructions",
            description="Instruction template; {{variables}} become parameters.",
        ),
        many(
            "flag", append="flag_id", description="Catalog flags {type, value}, at most one per type (persona_active)."
        ),
        many("example", description="Example texts."),
        many("department", description="Departments."),
        many("parameter_field", description="Parameter fields that {{variables}} map to."),
        many("voice", description="Voices."),
        many("scenario", description="Scenarios."),
    ),
    text_slots=("name", "description", "instructions"),
    # The seed's search filters; the three with seed names keep them.
    facets=(
        facet("scenario"),
        facet("field", slot="parameter_field", ids_field="field_ids"),
        facet("department", ids_field="filter_department_ids"),
        facet("color"),
        facet("icon"),
        facet("voice"),
        facet("instruction", slot="instructions"),
    ),
    parameters=TemplateParameters(text_slot="instructions", field_slot="parameter_field"),
    steps=("basic", "content", "parameters_step"),
)
