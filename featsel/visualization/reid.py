"""Pictures of re-identification: which tokens a selector kept in each
modality and how it aggregated them, and a query's nearest gallery items."""
from typing import Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np
from torch import Tensor

from .gate_maps import heat_map
from .multitask_visualizer import draw_label

__all__ = [
    'MATCH_COLOUR', 'MISMATCH_COLOUR', 'QUERY_COLOUR', 'draw_retrieval',
    'draw_token_selection', 'retrieval_captions', 'token_map'
]

#: RGB borders of the retrieval panel
QUERY_COLOUR = (60, 120, 255)
MATCH_COLOUR = (0, 190, 0)
MISMATCH_COLOUR = (230, 0, 0)
_DROPPED_SHARE = 0.25  # of the image brightness left on dropped tokens
_HEAT_SHARE = 0.55     # of the colour over kept tokens


def token_map(values: np.ndarray, index: np.ndarray, num_tokens: int,
              fill: float = 0.) -> np.ndarray:
    """Scatter values of the kept tokens back to all ``N`` positions.

    Args:
        values (np.ndarray): (N_s,) one value per kept token.
        index (np.ndarray): (N_s,) their positions in ``[0, N)``.
        num_tokens (int): ``N``.
        fill (float): Value of the tokens not kept. Defaults to 0.

    Returns:
        np.ndarray: (N,) float32.
    """
    full = np.full(num_tokens, fill, np.float32)
    full[np.asarray(index, np.int64)] = values
    return full


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value.detach().float().cpu().numpy()
    return np.asarray(value)


def _fit(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Resize an (H, W, 3) image to ``size`` = (width, height)."""
    return cv2.resize(np.ascontiguousarray(image, np.uint8), size,
                      interpolation=cv2.INTER_AREA)


def _grid_to_panel(values: np.ndarray, grid: Tuple[int, int],
                   size: Tuple[int, int]) -> np.ndarray:
    """(N,) token values on an (h, w) grid -> (H_p, W_p) blocks of the
    panel ``size`` (width, height), one block per token."""
    return cv2.resize(values.reshape(grid).astype(np.float32), size,
                      interpolation=cv2.INTER_NEAREST)


def _over(image: np.ndarray, heat: np.ndarray, mask: np.ndarray
          ) -> np.ndarray:
    """``heat`` blended over ``image`` where ``mask``; the image dimmed
    elsewhere."""
    dimmed = image.astype(np.float32) * _DROPPED_SHARE
    blend = (1 - _HEAT_SHARE) * image + _HEAT_SHARE * heat.astype(np.float32)
    return np.where(mask[..., None], blend, dimmed).astype(np.uint8)


def draw_token_selection(images: Mapping[str, np.ndarray],
                         selection: Mapping[str, Mapping[str, object]],
                         grid: Sequence[int],
                         num_aggregated: int = 3,
                         panel_height: int = 128) -> np.ndarray:
    """One row per modality: the image, the kept tokens, and the weights of
    the first aggregated tokens.

    - kept tokens: the ``N_s`` kept of ``N`` tokens show the colour of their
      score (min-max scaled over the ``N`` scores of that modality, dark
      blue = lowest, yellow = highest) over the image; dropped tokens are
      dimmed. The label gives ``N_s/N``.
    - aggregated token ``j``: its weights ``W[j]`` over the kept tokens
      (a softmax, so they sum to 1), scaled by their maximum, over the image;
      tokens not kept are dimmed.

    The token grid covers the whole image (the model input, resized from
    the image as ReID test pipelines do).

    Args:
        images (Mapping[str, np.ndarray]): Modality -> (H, W, 3) uint8 RGB.
        selection (Mapping[str, Mapping]): Modality -> ``dict(kept_index
            (N_s,), scores (N,), aggr_weights (N_c, N_s))`` (tensors or
            arrays; without ``aggr_weights``, as from a selector that does
            not aggregate, no aggregated token is drawn); modalities
            missing from ``images`` are skipped.
        grid (Sequence[int]): ``(h, w)`` token grid, ``h * w = N``.
        num_aggregated (int): Aggregated tokens drawn per modality (at most
            ``N_c``). Defaults to 3.
        panel_height (int): Height of each panel in pixels. Defaults to 128.

    Returns:
        np.ndarray: (M * panel_height, (2 + A) * W_p, 3) uint8 RGB for the
        ``M`` drawn modalities and ``A`` aggregated tokens, ``W_p`` the
        image width at panel height.

    Raises:
        ValueError: No modality to draw, or a selection that does not fit
            the grid.
    """
    grid = (int(grid[0]), int(grid[1]))
    num_tokens = grid[0] * grid[1]
    modalities = [m for m in selection if m in images]
    if not modalities:
        raise ValueError(f'no image for the selected modalities '
                         f'{list(selection)}; images of {list(images)}')
    first = images[modalities[0]]
    size = (max(1, round(first.shape[1] * panel_height / first.shape[0])),
            panel_height)
    rows = []
    for modality in modalities:
        sel = selection[modality]
        kept = _to_numpy(sel['kept_index']).astype(np.int64).reshape(-1)
        scores = _to_numpy(sel['scores']).reshape(-1)
        weights = _to_numpy(sel.get('aggr_weights', np.zeros((0, 0))))
        if scores.shape[0] != num_tokens or kept.max(initial=0) >= num_tokens:
            raise ValueError(
                f'{modality}: {scores.shape[0]} scores and kept indices up '
                f'to {kept.max(initial=0)} do not fit the {grid} token grid')
        image = _fit(images[modality], size)
        kept_mask = _grid_to_panel(
            token_map(np.ones(len(kept)), kept, num_tokens), grid,
            size) > 0.5
        low, high = float(scores.min()), float(scores.max())
        scaled = (scores - low) / (high - low) if high > low else \
            np.ones_like(scores)
        panels = [
            draw_label(image.copy(), modality),
            draw_label(
                _over(image, heat_map(_grid_to_panel(scaled, grid, size)),
                      kept_mask),
                f'kept {len(kept)}/{num_tokens}')
        ]
        for j in range(min(num_aggregated, weights.shape[0])):
            row = weights[j] / max(float(weights[j].max()), 1e-12)
            heat = heat_map(_grid_to_panel(token_map(row, kept, num_tokens),
                                        grid, size))
            panels.append(draw_label(_over(image, heat, kept_mask),
                                     f'aggr {j}'))
        rows.append(np.concatenate(panels, axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)))
            for r in rows]
    return np.concatenate(rows, axis=0)


def _framed(image: np.ndarray, colour: Tuple[int, int, int],
            border: int) -> np.ndarray:
    """A copy of ``image`` with a ``border``-pixel frame in ``colour``."""
    framed = image.copy()
    framed[:border], framed[-border:] = colour, colour
    framed[:, :border], framed[:, -border:] = colour, colour
    return framed


def _caption(text: str, width: int, line_height: int) -> np.ndarray:
    """A dark strip with one centred line per line of ``text``, each
    shrunk to fit the width."""
    lines = text.split('\n')
    strip = np.full((line_height * len(lines), width, 3), 32, np.uint8)
    for row, line in enumerate(lines):
        scale = line_height / 30
        (tw, th), _ = cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale,
                                      1)
        if tw > width - 4:
            scale *= (width - 4) / tw
            (tw, th), _ = cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX,
                                          scale, 1)
        cv2.putText(strip, line,
                    ((width - tw) // 2, row * line_height +
                     (line_height + th) // 2),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return strip


def draw_retrieval(query: Mapping[str, np.ndarray],
                   gallery: Sequence[Mapping[str, np.ndarray]],
                   matches: Sequence[bool],
                   captions: Optional[Sequence[str]] = None,
                   panel_height: int = 128,
                   border: int = 4) -> np.ndarray:
    """A query and its nearest gallery items, one column each.

    Each column stacks the item's modalities top to bottom (the query's
    modality order, labelled on the query). The query is framed in blue,
    each gallery item in green when ``matches`` (the query's identity) and
    red otherwise. A caption strip sits under each column.

    Args:
        query (Mapping[str, np.ndarray]): Modality -> (H, W, 3) uint8 RGB.
        gallery (Sequence[Mapping[str, np.ndarray]]): The ``k`` nearest
            items, nearest first, each with the query's modalities.
        matches (Sequence[bool]): (k,) whether each has the query's
            identity.
        captions (Sequence[str], optional): ``1 + k`` captions, the query's
            first; ``'\\n'`` starts a new line. Defaults to ``'query'``,
            ``'1'``, ..., ``'k'``.
        panel_height (int): Height of one modality image. Defaults to 128.
        border (int): Frame width in pixels. Defaults to 4.

    Returns:
        np.ndarray: (M * panel_height + captions, (1 + k) * W_p + gap, 3)
        uint8 RGB, ``W_p`` the query image width at panel height.
    """
    if len(matches) != len(gallery):
        raise ValueError(f'{len(gallery)} gallery items but {len(matches)} '
                         'match flags')
    captions = list(captions or ['query'] +
                    [str(i + 1) for i in range(len(gallery))])
    if len(captions) != 1 + len(gallery):
        raise ValueError(f'{len(captions)} captions for a query and '
                         f'{len(gallery)} gallery items; give 1 + k')
    modalities = list(query)
    first = query[modalities[0]]
    size = (max(1, round(first.shape[1] * panel_height / first.shape[0])),
            panel_height)
    line_height = max(12, panel_height // 8)
    num_lines = max(c.count('\n') + 1 for c in captions)
    captions = [c + '\n' * (num_lines - 1 - c.count('\n'))
                for c in captions]
    colours = [QUERY_COLOUR] + [
        MATCH_COLOUR if m else MISMATCH_COLOUR for m in matches]
    columns = []
    for index, (item, colour) in enumerate(zip([query, *gallery], colours)):
        cells = []
        for modality in modalities:
            cell = _fit(item[modality], size)
            if index == 0:
                cell = draw_label(cell, modality)
            cells.append(cell)
        column = _framed(np.concatenate(cells, axis=0), colour, border)
        columns.append(np.concatenate(
            [column, _caption(captions[index], size[0], line_height)]))
    gap = np.full((columns[0].shape[0], max(4, size[0] // 8), 3), 255,
                  np.uint8)
    return np.concatenate([columns[0], gap, *columns[1:]], axis=1)


def retrieval_captions(ranking: Mapping) -> Tuple[list, list]:
    """Captions and match flags of one ranking of
    :attr:`featsel.evaluation.metrics.MultiModalReIDMetric.last_retrieval`.

    Returns:
        tuple[list[str], list[bool]]: Two-line captions (``'query\\nid 3
        cam 1'``, ``'1: d 0.51\\nid 3 cam 2'``, ...) and the ``match`` of
        each gallery item.
    """
    query = ranking['query']
    captions = [f'query\nid {query["pid"]} cam {query["camid"]}']
    for rank, item in enumerate(ranking['gallery'], 1):
        captions.append(f'{rank}: d {item["distance"]:.2f}\n'
                        f'id {item["pid"]} cam {item["camid"]}')
    return captions, [bool(item['match']) for item in ranking['gallery']]

