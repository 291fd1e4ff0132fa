"""Generate with AI (API.md section 11): a step's fields drafted by the group's own invocation,
stored as a proposal of the group's generator agent, so a person still decides."""
