"""Models: the BiLSTM kernel (lstm), the classifiers (classifiers), matmul precision (precision),
attention ablations and statistics (attention), inference (jitted forward, attention read-out),
PyTorch twins (twins)."""
