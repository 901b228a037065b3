"""AGILab app ``minimal``: An AGILab app: keeps the rows of CSV files whose value reaches a threshold, one output file per input file.

The manager (:mod:`.manager`) plans one item per CSV file of ``data_in``; the
worker (:mod:`.worker`) reads its file under ``ctx.data_dir`` and writes the
kept rows under the run's outputs. Sample data (:mod:`.sample`) is seeded into
``<home>/data/minimal`` on first use.
"""
