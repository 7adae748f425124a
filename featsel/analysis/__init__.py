"""Cost measurement shared by every tool under ``tools/analysis_tools``.

* :mod:`.models`: read a config, build its model (any default scope).
* :mod:`.inputs`: synthetic batches, one maker per system.
* :mod:`.flops`: FLOPs per operator and per module, one convention.
* :mod:`.timing`: latency of steps and of model parts, on CPU or CUDA.
* :mod:`.memory`: peak tensor memory of a step.
* :mod:`.parts`: the parts a system's cost is broken down into.
* :mod:`.table`: the one table formatter (text, Markdown) and JSON output.
* :mod:`.compare`: parameters, FLOPs, time and memory of several models.
* :mod:`.inference`: parameters, FLOPs and latency at inference, whole and
  per part, of several models.
"""
