# The SDTPS selector of SPEC S2, one per modality: keep ceil(0.5 N) patch
# tokens by score (1 - 2 beta) s^p + beta (s^m2 + s^m3 + 2 s^im), aggregate
# them into int(0.4 N_s) tokens and fuse the dropped ones into one extra
# token (128 -> 64 -> 25 + 1 = 26 at 256 x 128). embed_dims and num_tokens
# come from the model. A config that adds it: model.selector and the weight
# of the selection branch's losses, next to the global branch's (1.0).
sdtps_selector = dict(
    type='SDTPSSelector',
    sparse_ratio=0.5,
    aggr_ratio=0.4,
    beta=0.25,
    decision='hard',
    impl='paper')
