"""Evaluation of trained runs: test metrics and dumps (evaluate), faithfulness, and the
predict/evaluate commands (predict)."""
