"""Eval: how models are compared and judged. Reads like the eval table of API.md section 3."""

from loomwork.engine.declaration import ArtifactKind, facet, many, single

EVAL = ArtifactKind(
    name="eval",
    plural="evals",
    title="Eval",
    description="An evaluation: the models it compares, each model's flags (its role), positions and rubrics.",
    legacy_draft_path="/eval/draft",
    slots=(
        single("name", required=True, description="Display name."),
        single("description", description="What the eval measures."),
        many("flag", description="Catalog flags {type, value}, at most one per type (eval_active)."),
        many("department", description="Departments, given by id or by name."),
        many("model", description="Models under evaluation."),
        many("model_flag", description="Per-model flags {model_id, flag_id}, such as eval_role: judge."),
        many("model_position", description="Model positions."),
        many("model_rubric", description="Rubrics the answers are judged by."),
    ),
    facets=(facet("department"), facet("model")),
    steps=("basic", "content", "models_step"),
    # A model's role in the comparison, set per model through model_flag_values.
    catalog_flags=(("eval_role", ("candidate", "baseline", "judge")),),
)
