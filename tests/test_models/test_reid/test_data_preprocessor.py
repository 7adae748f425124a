"""Per-modality normalisation of channel-stacked images."""
import pytest
import torch

from featsel.registry import MODELS
from featsel.utils import ConfigError, DataError


def _pre(mean, std):
    return MODELS.build(dict(type='MultiModalReIDDataPreprocessor',
                             mean=mean, std=std))


def test_each_modality_uses_its_own_mean_and_std():
    pre = _pre(mean=[[10, 20, 30], [1, 2, 3]], std=[[2, 4, 5], [1, 1, 2]])
    image = torch.randint(256, (6, 4, 3), dtype=torch.uint8)
    out = pre(dict(inputs=[image, image]))['inputs']
    assert out.shape == (2, 6, 4, 3) and out.dtype == torch.float32
    mean = torch.tensor([10, 20, 30, 1, 2, 3.]).view(6, 1, 1)
    std = torch.tensor([2, 4, 5, 1, 1, 2.]).view(6, 1, 1)
    assert torch.allclose(out[1], (image.float() - mean) / std)
    assert pre.num_modalities == 2


def test_channels_that_do_not_fit_the_modalities_are_a_config_error():
    pre = _pre(mean=[[0, 0, 0]] * 3, std=[[1, 1, 1]] * 3)
    with pytest.raises(ConfigError, match='6 channels .* 3 modalities'):
        pre(dict(inputs=[torch.zeros(6, 4, 2, dtype=torch.uint8)]))


def test_images_of_different_sizes_are_a_data_error():
    pre = _pre(mean=[[0, 0, 0]], std=[[1, 1, 1]])
    with pytest.raises(DataError, match='differ in size'):
        pre(dict(inputs=[torch.zeros(3, 4, 2), torch.zeros(3, 4, 3)]))


@pytest.mark.parametrize('mean,std,match', [
    ([[0, 0]], [[1, 1, 1]], 'data_preprocessor.mean'),
    ([[0, 0, 0]], [[1, 1, 1]] * 2, 'gives 1 modalities but .*std gives 2'),
])
def test_bad_statistics_are_config_errors(mean, std, match):
    with pytest.raises(ConfigError, match=match):
        _pre(mean, std)
