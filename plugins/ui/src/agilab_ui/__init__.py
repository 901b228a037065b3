"""``agilab ui``: a small read-only local web app over the runs folder (Starlette + uvicorn + Jinja2).

Shipped as a plugin package (the ``ui`` command comes through the kernel's
``register_commands`` hook), so the kernel carries no web dependency.
"""
