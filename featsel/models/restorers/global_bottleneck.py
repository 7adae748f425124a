r"""The global bottleneck of :class:`GlobalLocalRestorer`: a transformer
over the tokens of every crop of an image.

Tokens are the encoder's deepest map average-pooled to a coarse grid (one
token per ``token_stride`` x ``token_stride`` pixels). Attention runs on all
of them at once with :func:`torch.nn.functional.scaled_dot_product_attention`
and the queries taken ``query_chunk`` at a time: each chunk attends to every
key, so the result is that of full attention, while the attention matrix
held at once is ``query_chunk x N`` per head instead of ``N x N`` (N ≈ 8.6k
tokens for a 3840 x 2160 image at stride 32: 8.6k x 8.6k x 4 heads in float32
would be 1.2 GB, a 1024-query chunk 0.14 GB).
"""
import torch
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer
from torch import Tensor, nn


class ChunkedSelfAttention(nn.Module):
    r"""Multi-head self-attention over all tokens, queries in chunks.

    .. math::

        \mathrm{Attn}(X) = W_o\,[\mathrm{softmax}(Q_c K^\top/\sqrt{d_h})
        V]_{c = 1..\lceil N / n_q \rceil}

    with :math:`Q, K, V` from one linear map of :math:`X` and :math:`Q_c`
    the c-th chunk of :math:`n_q` queries.

    Args:
        embed_dims (int): Token width ``D`` (a multiple of ``num_heads``).
        num_heads (int): Heads.
        query_chunk (int): Queries per attention call ``n_q``.
    """

    def __init__(self, embed_dims: int, num_heads: int,
                 query_chunk: int) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims {embed_dims} is not a multiple of '
                             f'num_heads {num_heads}')
        if query_chunk < 1:
            raise ValueError(f'query_chunk must be >= 1, got {query_chunk}')
        self.num_heads = num_heads
        self.query_chunk = query_chunk
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims)
        self.proj = nn.Linear(embed_dims, embed_dims)

    def forward(self, x: Tensor) -> Tensor:
        """Args: x (Tensor): (B, N, D). Returns: (B, N, D)."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads,
                                   d // self.num_heads).permute(2, 0, 3, 1, 4)
        out = torch.cat([
            F.scaled_dot_product_attention(q[:, :, i:i + self.query_chunk],
                                           k, v)
            for i in range(0, n, self.query_chunk)
        ], dim=2)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class TransformerLayer(nn.Module):
    """Pre-norm transformer layer: ``x + Attn(LN(x))``, then
    ``x + MLP(LN(x))`` with ``MLP = Linear(D, rD) -> act -> Linear(rD, D)``.

    Args:
        embed_dims (int): Token width ``D``.
        num_heads (int): Heads.
        mlp_ratio (float): Hidden width ratio ``r`` of the MLP.
        query_chunk (int): Queries per attention call.
        act_cfg (dict): Activation config.
    """

    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float,
                 query_chunk: int,
                 act_cfg: dict = dict(type='GELU')) -> None:
        super().__init__()
        hidden = int(embed_dims * mlp_ratio)
        self.norm1 = nn.LayerNorm(embed_dims)
        self.attn = ChunkedSelfAttention(embed_dims, num_heads, query_chunk)
        self.norm2 = nn.LayerNorm(embed_dims)
        self.mlp = nn.Sequential(
            nn.Linear(embed_dims, hidden), build_activation_layer(
                dict(act_cfg)), nn.Linear(hidden, embed_dims))

    def forward(self, x: Tensor) -> Tensor:
        """Args: x (Tensor): (B, N, D). Returns: (B, N, D)."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class GlobalBottleneck(nn.Module):
    r"""Transformer over the token grid of a whole image.

    .. math::

        T_0 = E + \mathrm{DW}_{3\times3}(E), \quad E = W_{in} * P, \qquad
        T_{l+1} = \mathrm{Layer}_l(T_l), \qquad
        \mathrm{out} = \mathrm{LN}(T_L)

    :math:`P` (B, C, H_t, W_t) is the pooled grid, :math:`W_{in}` a 1x1 conv
    to ``D``; the depthwise conv is a conditional position encoding (it
    follows the grid at any size, so 4K images need no interpolated
    position table). The output is returned as a grid (B, D, H_t, W_t).

    Args:
        in_channels (int): Channels ``C`` of the pooled grid.
        embed_dims (int): Token width ``D``.
        num_layers (int): Transformer layers ``L``.
        num_heads (int): Heads.
        mlp_ratio (float): MLP width ratio.
        query_chunk (int): Queries per attention call.
        act_cfg (dict): Activation config.
    """

    def __init__(self, in_channels: int, embed_dims: int, num_layers: int,
                 num_heads: int, mlp_ratio: float, query_chunk: int,
                 act_cfg: dict = dict(type='GELU')) -> None:
        super().__init__()
        self.embed = nn.Conv2d(in_channels, embed_dims, 1)
        self.pos = nn.Conv2d(embed_dims, embed_dims, 3, padding=1,
                             groups=embed_dims)
        self.layers = nn.ModuleList(
            TransformerLayer(embed_dims, num_heads, mlp_ratio, query_chunk,
                             act_cfg) for _ in range(num_layers))
        self.norm = nn.LayerNorm(embed_dims)

    def forward(self, grid: Tensor) -> Tensor:
        """Args: grid (Tensor): (B, C, H_t, W_t). Returns: (B, D, H_t,
        W_t)."""
        e = self.embed(grid)
        e = e + self.pos(e)
        b, d, h, w = e.shape
        t = e.flatten(2).transpose(1, 2)
        for layer in self.layers:
            t = layer(t)
        return self.norm(t).transpose(1, 2).reshape(b, d, h, w)
