"""RepVGG re-parameterisation: the deployment form computes the same."""
import torch
from torch import nn

from featsel.models.detectors.rtdetr.rep_blocks import CSPRepLayer, RepVGGBlock


def _random_bn_statistics(module: nn.Module) -> None:
    for bn in module.modules():
        if isinstance(bn, nn.BatchNorm2d):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.5, 0.5)


def test_switch_to_deploy_leaves_one_conv_with_the_same_output():
    torch.manual_seed(0)
    block = RepVGGBlock(6)
    _random_bn_statistics(block)
    block.eval()
    x = torch.randn(2, 6, 7, 9)
    expected = block(x)
    params = sum(p.numel() for p in block.parameters())
    block.switch_to_deploy()
    assert not hasattr(block, 'conv3x3') and not hasattr(block, 'conv1x1')
    # one 3x3 conv with bias: 6*6*9 + 6, against two convs and two BNs
    assert sum(p.numel() for p in block.parameters()) == 6 * 6 * 9 + 6
    assert params == 6 * 6 * 9 + 6 * 6 + 2 * 2 * 6
    torch.testing.assert_close(block(x), expected, atol=1e-5, rtol=1e-5)


def test_csp_layer_in_deployment_form_matches():
    torch.manual_seed(0)
    layer = CSPRepLayer(8, 8, num_blocks=2)
    _random_bn_statistics(layer)
    layer.eval()
    x = torch.randn(1, 8, 6, 5)
    expected = layer(x)
    for block in layer.blocks:
        block.switch_to_deploy()
    torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=1e-5)
