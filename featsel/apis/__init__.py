"""Inference helpers: build a model from a config and checkpoint, run it."""
