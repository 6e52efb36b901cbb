"""Evaluation of trained runs: test metrics and dumps (evaluate), faithfulness, attention ablations
(ablations) and statistics (attention_stats), and the predict/evaluate commands (predict)."""
