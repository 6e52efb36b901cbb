"""Models: the BiLSTM kernel (lstm), the classifiers (classifiers), matmul precision (precision),
operations on attention weights: ablations and statistics (attention_ops), inference (jitted
forward, attention read-out), PyTorch twins (twins)."""
