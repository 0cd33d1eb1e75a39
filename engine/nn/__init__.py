"""Networks: the Msanii U-Net and the mel -> magnitude network."""

from engine.nn.unet import UNet, UNetConfig
from engine.nn.magnitude import MagnitudeConfig, MagnitudeNet

__all__ = ["UNet", "UNetConfig", "MagnitudeConfig", "MagnitudeNet"]
