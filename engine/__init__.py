"""daw-diffusion engine: Msanii-style mel-spectrogram diffusion for editing music."""

__version__ = "0.1.0"
