"""Data sets: MNIST sources and the random anomaly detection (RAD) task."""
