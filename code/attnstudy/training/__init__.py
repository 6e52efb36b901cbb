"""Training: one run (loop), its checkpoints, every model x seed (runner), the local worker pool
(workers) and Ray cluster tasks (executors, reaper)."""
