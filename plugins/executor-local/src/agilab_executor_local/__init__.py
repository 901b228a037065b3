"""AGILab executors that run on this machine: ``local`` and ``pool``."""
