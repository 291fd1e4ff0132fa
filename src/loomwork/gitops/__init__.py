"""Configuration as code (issue 35): a folder of YAML files, one per artifact, pulled from, planned against and
applied to a Loomwork server through its public HTTP API only, like any client (so it works from CI against a
remote server). `format` reads and writes the files, `remote` talks to the server, `plan` compares, `apply`
carries a plan out."""
