"""Inference helpers: build a model from a config and checkpoint, run it."""
from .inference import build_inference_pipeline, inference_model, init_model

__all__ = ['build_inference_pipeline', 'inference_model', 'init_model']
