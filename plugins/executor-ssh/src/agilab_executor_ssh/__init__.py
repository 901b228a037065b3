"""AGILab executor ``ssh``: Dask workers on hosts reached over SSH alone (asyncssh, no shared filesystem)."""
