"""Tool: a function an agent can call. Reads like the tool table of API.md section 3."""

from loomwork.engine.declaration import ArtifactKind, ToolArguments, facet, many, single

TOOL = ArtifactKind(
    name="tool",
    plural="tools",
    title="Tool",
    description="A function an agent can call: its arguments, their positions, its outputs, instructions and permissions.",
    legacy_draft_path="/tool/draft",
    slots=(
        single("name", required=True, description="Display name."),
        single("description", description="What the tool does."),
        many("flag", description="Catalog flags {type, value}, at most one per type (tool_active)."),
        many("department", description="Departments."),
        many("arg", description="Arguments {name, type, description, required, default}."),
        many("arg_position", description="Argument positions {arg_id, position}."),
        many("args_output", alias="args_outputs_ids", description="Output fields {name, type, description}."),
        many(
            "instruction",
            section="instructions",
            append="instruction_id",
            description="Instructions for using the tool.",
        ),
        many("permission", description="Permissions the tool needs."),
    ),
    text_slots=("name", "description", "instruction"),
    facets=(facet("department"), facet("permission")),
    arguments=ToolArguments(arg_slot="arg", position_slot="arg_position", output_slot="args_output"),
    steps=("basic", "content", "arguments_step"),
)
