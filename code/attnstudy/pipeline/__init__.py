"""The pipeline: composes the stages below it into the study. train (training) -> evaluate
(evaluation) -> baseline -> analyse (analysis) -> write the results files (results); the run
cache and its keys (cache), the runs (runs), the local worker pool (workers), Ray cluster tasks
(executors, reaper), the published weights (publish) and the trained models of a profile for
`predict`/`evaluate` (trained)."""
