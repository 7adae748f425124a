"""Inference helpers: build a model from a config and checkpoint, run it."""
from .inference import build_inference_pipeline, inference_model, init_model
from .moe_inference import (CalibratedRouter, MoEIOutput, MoEIRestorer,
                            load_calibrated_router)
from .restoration import (blend_tiles, blend_window, find_restorer,
                          resolve_context, restore, restore_tensor, tile_grid,
                          tile_regions, tiled_decode)

__all__ = [
    'blend_tiles', 'blend_window', 'build_inference_pipeline',
    'find_restorer', 'inference_model', 'init_model', 'resolve_context',
    'restore', 'restore_tensor', 'tile_grid', 'tile_regions', 'tiled_decode',
    'CalibratedRouter', 'MoEIOutput', 'MoEIRestorer', 'load_calibrated_router'
]
