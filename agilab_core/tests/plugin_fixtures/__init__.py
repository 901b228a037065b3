"""Small real plugins for the kernel's plugin-loading tests (not collected by pytest)."""
