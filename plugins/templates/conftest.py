"""The templates are Jinja text (their test files render to tests of new projects): never collected here."""

collect_ignore = ["src"]
