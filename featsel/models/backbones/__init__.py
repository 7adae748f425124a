from .unet_encoder import UNetEncoder, check_in_channels

__all__ = ['UNetEncoder', 'check_in_channels']
