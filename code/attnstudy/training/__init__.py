"""Training: one run (loop), its checkpoints, every model x seed (runner) and the worker
pool (workers)."""
