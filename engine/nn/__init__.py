"""Networks: the Msanii U-Net and the mel -> magnitude network."""

from engine.nn.magnitude import MagnitudeConfig, MagnitudeNet
from engine.nn.unet import UNet, UNetConfig

__all__ = ["UNet", "UNetConfig", "MagnitudeConfig", "MagnitudeNet"]
