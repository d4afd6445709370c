"""tuitrain: train neural networks from a terminal (PyTorch, TensorFlow, Keras)."""

__version__ = "0.1.0"
