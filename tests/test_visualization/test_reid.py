"""Kept-token maps and retrieval panels: layout, colours at known pixels."""
import matplotlib
import numpy as np
import pytest
import torch

from featsel.visualization import draw_retrieval, draw_token_selection
from featsel.visualization.reid import (MATCH_COLOUR, MISMATCH_COLOUR,
                                        QUERY_COLOUR, retrieval_captions,
                                        token_map)

# 32 x 16 images on a 4 x 2 token grid: at panel height 32 each token is an
# 8 x 8 block, token t at rows 8*(t//2).., columns 8*(t%2)..
H, W, GRID = 32, 16, (4, 2)
COLOURS = dict(RGB=(100, 150, 200), NI=(90, 90, 90), TI=(200, 40, 10))


def _images(modalities=('RGB', 'NI', 'TI')):
    return {m: np.full((H, W, 3), COLOURS[m], np.uint8) for m in modalities}


def _selection():
    # kept tokens 7, 2, 5, 0 (score order); scores rise with the index
    scores = torch.arange(8, dtype=torch.float32) / 7
    weights = torch.tensor([[0.1, 0.2, 0.6, 0.1],    # peaks at token 5
                            [0.7, 0.1, 0.1, 0.1]])   # peaks at token 7
    return dict(kept_index=torch.tensor([7, 2, 5, 0]), scores=scores,
                aggr_weights=weights)


def _block(panel, token):
    """Pixel in the middle of ``token``'s block of a panel."""
    return panel[8 * (token // 2) + 4, 8 * (token % 2) + 4].astype(float)


def _viridis(value):
    return np.asarray(matplotlib.colormaps['viridis'](value)[:3]) * 255


def test_token_map_scatters_kept_values():
    full = token_map(np.array([3., 4.]), np.array([5, 1]), 6, fill=-1)
    assert full.tolist() == [-1, 4, -1, -1, -1, 3]


def test_token_selection_layout_and_colours():
    selection = {m: _selection() for m in ('RGB', 'TI')}
    drawn = draw_token_selection(_images(), selection, GRID,
                                 num_aggregated=2, panel_height=H)
    # rows RGB and TI (NI has no selection); image, kept, 2 aggregated
    assert drawn.shape == (2 * H, 4 * W, 3) and drawn.dtype == np.uint8
    rgb = np.asarray(COLOURS['RGB'], float)
    image, kept, aggr0, aggr1 = (drawn[:H, i * W:(i + 1) * W]
                                 for i in range(4))
    assert (image == COLOURS['RGB']).all()
    # dropped tokens dimmed to a quarter, kept ones coloured by their score
    # (min-max scaled: token 7 -> 1, token 0 -> 0)
    for token in (1, 3, 4, 6):
        np.testing.assert_allclose(_block(kept, token), 0.25 * rgb, atol=1)
    for token in (0, 2, 5, 7):
        expected = 0.45 * rgb + 0.55 * _viridis(token / 7)
        np.testing.assert_allclose(_block(kept, token), expected, atol=2)
    # aggregated token 0: weight 0.6 at token 5 is the top of the scale,
    # 0.2 at token 2 a third of it; dropped tokens dimmed
    np.testing.assert_allclose(_block(aggr0, 5),
                               0.45 * rgb + 0.55 * _viridis(1.0), atol=2)
    np.testing.assert_allclose(_block(aggr0, 2),
                               0.45 * rgb + 0.55 * _viridis(1 / 3), atol=2)
    np.testing.assert_allclose(_block(aggr0, 3), 0.25 * rgb, atol=1)
    np.testing.assert_allclose(_block(aggr1, 7),
                               0.45 * rgb + 0.55 * _viridis(1.0), atol=2)
    # the second row is drawn over the TI image
    assert (drawn[H:, :W] == COLOURS['TI']).all()


def test_token_selection_with_fewer_or_no_aggregated_tokens():
    selection = {k: v.numpy() for k, v in _selection().items()}
    drawn = draw_token_selection(_images(('NI', )), dict(NI=selection),
                                 GRID, num_aggregated=5, panel_height=64)
    # only N_c = 2 aggregated tokens exist; twice the size
    assert drawn.shape == (64, 4 * 32, 3)
    # a selection without aggregation: image and kept tokens only
    del selection['aggr_weights']
    drawn = draw_token_selection(_images(('NI', )), dict(NI=selection),
                                 GRID, panel_height=H)
    assert drawn.shape == (H, 2 * W, 3)


def test_token_selection_bad_input():
    with pytest.raises(ValueError, match='no image for the selected'):
        draw_token_selection(_images(('RGB', )), dict(TI=_selection()),
                             GRID)
    with pytest.raises(ValueError, match=r'RGB: 8 scores.*\(4, 3\)'):
        draw_token_selection(_images(), dict(RGB=_selection()), (4, 3))


def test_retrieval_panel_frames_and_layout():
    query = _images()
    gallery = [_images(), _images(), _images()]
    drawn = draw_retrieval(query, gallery, [True, False, True],
                           panel_height=H, border=2)
    gap = max(4, W // 8)
    # three modalities stacked, caption lines below; query, gap, 3 items
    assert drawn.shape[1] == 4 * W + gap
    assert drawn.shape[0] > 3 * H
    columns = [drawn[:, :W]] + [
        drawn[:, W + gap + i * W:W + gap + (i + 1) * W] for i in range(3)]
    frames = [QUERY_COLOUR, MATCH_COLOUR, MISMATCH_COLOUR, MATCH_COLOUR]
    for column, colour in zip(columns, frames):
        assert (column[0] == colour).all()             # top edge
        assert (column[:3 * H, 0] == colour).all()     # left edge
        assert (column[3 * H - 1] == colour).all()     # bottom edge
        # inside the frame: the TI image of the third row
        assert (column[2 * H + H // 2, W // 2] == COLOURS['TI']).all()
    assert (drawn[:3 * H, W:W + gap] == 255).all()     # white gap


def test_retrieval_captions_and_bad_input():
    ranking = dict(
        query=dict(index=0, pid=3, camid=1, img_paths={}),
        gallery=[dict(index=4, pid=3, camid=2, img_paths={},
                      distance=0.514, match=True),
                 dict(index=9, pid=8, camid=1, img_paths={},
                      distance=0.75, match=False)])
    captions, matches = retrieval_captions(ranking)
    assert captions == ['query\nid 3 cam 1', '1: d 0.51\nid 3 cam 2',
                        '2: d 0.75\nid 8 cam 1']
    assert matches == [True, False]
    with pytest.raises(ValueError, match='2 gallery items but 1 match'):
        draw_retrieval(_images(), [_images(), _images()], [True])
    with pytest.raises(ValueError, match='2 captions'):
        draw_retrieval(_images(), [_images(), _images()], [True, False],
                       captions=['q', '1'])
