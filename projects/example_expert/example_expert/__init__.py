"""An example third-party package that adds an expert to featsel."""
from .gated_dw_expert import GatedDWExpert

__all__ = ['GatedDWExpert']
