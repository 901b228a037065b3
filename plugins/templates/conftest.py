"""The templates are Jinja text (their test files render to tests of new projects): never collected here,
nor their copies in a build folder."""

collect_ignore = ["src", "build"]
