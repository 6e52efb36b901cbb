"""Training: one run (loop) and its checkpoints (checkpoints). What trains which runs, and where,
is the pipeline's (attnstudy.pipeline)."""
