"""Models: the BiLSTM kernel (lstm), the classifiers (classifiers), inference (jitted forward,
attention read-out) and the PyTorch twins (twins)."""
