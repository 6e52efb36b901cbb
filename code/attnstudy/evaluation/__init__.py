"""Evaluation of trained parameters: test metrics and dumps (evaluate), faithfulness, attention
ablations (ablations) and statistics (attention_stats), per-token explanations (explain) and
accuracy with CIs and paired differences on any labelled file (compare)."""
