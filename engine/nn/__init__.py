"""Networks: the Msanii U-Net and the mel -> magnitude vocoder."""

from engine.nn.unet import UNet, UNetConfig
from engine.nn.vocoder import Vocoder, VocoderConfig

__all__ = ["UNet", "UNetConfig", "Vocoder", "VocoderConfig"]
