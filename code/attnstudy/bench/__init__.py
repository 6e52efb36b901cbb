"""Benchmarks: the JAX vs PyTorch training step (bench) and the LSTM kernel (lstm_bench)."""
