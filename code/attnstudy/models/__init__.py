"""Models: the BiLSTM kernel (lstm), the classifiers (classifiers), inference (jitted forward, attention read-out), PyTorch twins (twins)."""
