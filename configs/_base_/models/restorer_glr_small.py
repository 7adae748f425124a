# The restoration model at full size (SPEC S3): the recipe and losses of
# restorer_glr_tiny.py on a wider backbone (four levels of 32..256
# channels, a four-layer transformer of width 256 over one token per
# 32 x 32 pixels: 8.1k tokens at 3840 x 2160).
_base_ = ['./restorer_glr_tiny.py']
model = dict(
    backbone=dict(
        embed_dims=(32, 64, 128, 256),
        token_dims=256,
        token_pool=2,
        num_layers=4,
        num_heads=8,
        crop_batch=8))
