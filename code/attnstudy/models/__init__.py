"""Models: the BiLSTM kernel (lstm), the classifiers (classifiers), matmul precision (precision),
inference (jitted forward, attention read-out), PyTorch twins (twins)."""
