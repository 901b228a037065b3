"""AGILab executor ``dask``: run items on an embedded Dask cluster, a running one, or one a cluster manager starts.

Manager side: :mod:`.executor` (options, the executor), :mod:`.cluster`
(getting a client and workers), :mod:`.dispatch` (batches in, results out).
Worker side: :mod:`.worker`, the only module Dask workers import.
"""
