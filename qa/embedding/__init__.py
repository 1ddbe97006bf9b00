"""Embedding: the sentence-embedding model (PyTorch, for builds) and its ONNX export (for
questions and fast builds). Texts in, unit vectors out.
"""
