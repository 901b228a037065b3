"""A plugin whose module raises while being imported."""

raise RuntimeError("fixture plugin cannot import\nsecond line must not show")
