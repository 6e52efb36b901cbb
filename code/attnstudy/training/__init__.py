"""Training: the loop (loop), checkpoints, the runner over model x seed (runner) and its worker pool (workers)."""
