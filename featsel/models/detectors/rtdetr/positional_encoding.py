"""Fixed positional encodings for token sequences laid out on a grid."""
import torch
from torch import Tensor


def sincos_2d_position_embedding(height: int,
                                 width: int,
                                 embed_dims: int = 256,
                                 temperature: float = 10000.,
                                 device=None,
                                 dtype: torch.dtype = torch.float32
                                 ) -> Tensor:
    """2-D sine-cosine positions of an ``H x W`` grid in raster order.

    With ``D = embed_dims / 4`` frequencies
    ``omega_d = temperature ** (-d / D)``, the token at column ``x`` and row
    ``y`` gets ``[sin(x omega), cos(x omega), sin(y omega), cos(y omega)]``.

    Args:
        height (int): Grid rows ``H``.
        width (int): Grid columns ``W``.
        embed_dims (int): Channels; a multiple of 4. Defaults to 256.
        temperature (float): Frequency base. Defaults to 10000.
        device (torch.device, optional): Device of the result.
        dtype (torch.dtype): Dtype of the result. Defaults to float32.

    Returns:
        Tensor: ``(1, H * W, embed_dims)``, row-major like ``flatten(2)``.
    """
    if embed_dims % 4:
        raise ValueError(
            f'embed_dims must be a multiple of 4, got {embed_dims}')
    quarter = embed_dims // 4
    omega = torch.arange(quarter, dtype=torch.float32, device=device)
    omega = temperature**(-omega / quarter)
    rows, cols = torch.meshgrid(
        torch.arange(height, dtype=torch.float32, device=device),
        torch.arange(width, dtype=torch.float32, device=device),
        indexing='ij')
    x = cols.flatten()[:, None] * omega[None]
    y = rows.flatten()[:, None] * omega[None]
    pos = torch.cat([x.sin(), x.cos(), y.sin(), y.cos()], dim=1)
    return pos[None].to(dtype)
