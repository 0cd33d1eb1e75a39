"""Spectral front end: log-mel analysis, Msanii's learned scalers, mel -> linear magnitude,
and fast (momentum) Griffin-Lim.

Shapes: audio `[..., samples]` at `sample_rate` Hz; mel `[..., n_mels, frames]`;
magnitude `[..., n_fft // 2 + 1, frames]`. Leading axes (batch, audio channels) pass through,
so every channel is analysed and resynthesised on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor, nn


@dataclass(frozen=True)
class SpectralConfig:
    sample_rate: int = 44_100
    n_fft: int = 2048
    hop_length: int = 1024
    n_mels: int = 128
    log_floor: float = 1e-5
    scaler_momentum: float = 1e-3
    scaler_momentum_decay: float = 0.999
    scaler_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.n_fft % self.hop_length:
            raise ValueError("n_fft must be a whole multiple of hop_length")

    @property
    def n_freqs(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def frame_rate(self) -> float:
        """Mel frames per second."""
        return self.sample_rate / self.hop_length

    def frames_for(self, samples: int) -> int:
        """Number of (centred) STFT frames for a signal of `samples` samples."""
        return samples // self.hop_length + 1

    def samples_for_seconds(self, seconds: float) -> int:
        return int(round(seconds * self.sample_rate))


class LearnedScaler(nn.Module):
    """Msanii's two-stage feature scaling, fitted while training and frozen afterwards:
    standardise with running mean/variance, then min-max to [-1, 1] with running min/max.
    Running statistics follow an exponential average whose momentum itself decays per `step()`.
    """

    momentum: Tensor  # buffers, 0-d
    mean: Tensor
    var: Tensor
    min: Tensor
    max: Tensor
    fitted: Tensor

    def __init__(self, config: SpectralConfig) -> None:
        super().__init__()
        self.eps = config.scaler_eps
        self.momentum_decay = config.scaler_momentum_decay
        self.register_buffer("momentum", torch.tensor(config.scaler_momentum))
        self.register_buffer("mean", torch.tensor(0.0))
        self.register_buffer("var", torch.tensor(1.0))
        self.register_buffer("min", torch.tensor(-1.0))
        self.register_buffer("max", torch.tensor(1.0))
        self.register_buffer("fitted", torch.tensor(False))

    @torch.no_grad()
    def update(self, log_mel: Tensor) -> None:
        """Fold a training batch's statistics into the running ones."""
        mean, var = log_mel.mean(), log_mel.var()
        standard = (log_mel - mean) / torch.sqrt(var + self.eps)
        low, high = standard.min(), standard.max()
        if not bool(self.fitted):
            self.mean.copy_(mean), self.var.copy_(var)
            self.min.copy_(low), self.max.copy_(high)
            self.fitted.fill_(True)
            return
        m = self.momentum
        for running, batch in ((self.mean, mean), (self.var, var), (self.min, low), (self.max, high)):
            running.mul_(1 - m).add_(m * batch)

    @torch.no_grad()
    def step(self) -> None:
        """Decay the momentum (once per optimiser step), so statistics settle."""
        self.momentum.mul_(self.momentum_decay)

    def forward(self, log_mel: Tensor) -> Tensor:
        standard = (log_mel - self.mean) / torch.sqrt(self.var + self.eps)
        unit = (standard - self.min) / (self.max - self.min)
        return (unit * 2 - 1).clamp(-1, 1)

    def inverse(self, scaled: Tensor) -> Tensor:
        unit = (scaled.clamp(-1, 1) + 1) / 2
        standard = unit * (self.max - self.min) + self.min
        return standard * torch.sqrt(self.var + self.eps) + self.mean


def unit(z: Tensor) -> Tensor:
    """z / |z|, and 1 where z is 0 (a silent bin: any phase will do)."""
    return torch.where(z == 0, 1, torch.sgn(z))


class MelSpectral(nn.Module):
    """Analysis and resynthesis at the model's sample rate."""

    mel_basis: Tensor  # buffers: [n_mels, n_freqs], [n_freqs, n_mels], [n_fft]
    mel_pinv: Tensor
    window: Tensor

    def __init__(self, config: SpectralConfig) -> None:
        super().__init__()
        self.config = config
        fb = torchaudio.functional.melscale_fbanks(
            config.n_freqs, 0.0, config.sample_rate / 2, config.n_mels, config.sample_rate
        )  # [n_freqs, n_mels]
        self.register_buffer("mel_basis", fb.T.contiguous(), persistent=False)
        self.register_buffer("mel_pinv", torch.linalg.pinv(fb.T).contiguous(), persistent=False)
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)
        self.scaler = LearnedScaler(config)
        self._inverse_envelope: Tensor | None = None

    # -- analysis -------------------------------------------------------------------------
    def stft(self, audio: Tensor) -> Tensor:
        """Complex STFT `[..., n_freqs, frames]` of `[..., samples]`; the same numbers as
        `torch.stft(center=True, pad_mode="reflect")` with a Hann window, computed as one
        batched real FFT over strided frames (several times faster on the CPU)."""
        return self.spectrum(audio).transpose(-1, -2)

    def istft(self, spec: Tensor, length: int) -> Tensor:
        """Inverse of `stft` for `[..., n_freqs, frames]`, trimmed or padded to `length`."""
        return self.synthesis(spec.transpose(-1, -2), length)

    def spectrum(self, audio: Tensor) -> Tensor:
        """STFT in frame-major layout `[..., frames, n_freqs]` (what the FFT produces)."""
        half = self.config.n_fft // 2
        lead, samples = audio.shape[:-1], audio.shape[-1]
        flat = audio.reshape(-1, 1, samples)
        padded = F.pad(flat, (half, half), mode="reflect" if samples > half else "constant")[:, 0]
        frames = padded.unfold(-1, self.config.n_fft, self.config.hop_length) * self.window
        spec = torch.fft.rfft(frames, dim=-1)
        return spec.reshape(*lead, *spec.shape[-2:])

    def synthesis(self, spec: Tensor, length: int) -> Tensor:
        """Inverse of `spectrum`: windowed overlap-add, normalised by the summed squared window."""
        c = self.config
        frames = torch.fft.irfft(spec, n=c.n_fft, dim=-1) * self.window
        audio = self.overlap_add(frames) * self.inverse_envelope(frames.shape[-2])
        audio = audio[..., c.n_fft // 2: c.n_fft // 2 + length]
        if audio.shape[-1] < length:
            audio = F.pad(audio, (0, length - audio.shape[-1]))
        return audio

    def inverse_envelope(self, count: int) -> Tensor:
        """1 / the summed squared window of `count` frames, kept for the next call of that count
        (Griffin-Lim asks for it every iteration)."""
        kept = self._inverse_envelope
        if kept is None or kept.shape[-1] != (count - 1) * self.config.hop_length + self.config.n_fft \
                or kept.device != self.window.device:
            with torch.inference_mode(False):  # an ordinary tensor, usable later with autograd too
                envelope = self.overlap_add(self.window.square().expand(count, -1))
                kept = self._inverse_envelope = envelope.clamp(min=1e-8).reciprocal()
        return kept

    def overlap_add(self, frames: Tensor) -> Tensor:
        """`[..., frames, n_fft]` -> `[..., (frames - 1) * hop + n_fft]`, frames `hop` apart."""
        hop, overlap = self.config.hop_length, self.config.n_fft // self.config.hop_length
        count = frames.shape[-2]
        pieces = frames.reshape(*frames.shape[:-1], overlap, hop)
        out = frames.new_zeros(*frames.shape[:-2], count + overlap - 1, hop)
        for j in range(overlap):
            out[..., j:j + count, :] += pieces[..., j, :]
        return out.flatten(-2)

    def log_mel(self, audio: Tensor) -> Tensor:
        """Natural-log mel magnitude `[..., n_mels, frames]`."""
        magnitude = self.stft(audio).abs()
        return torch.log(self.mel_basis @ magnitude + self.config.log_floor)

    def encode(self, audio: Tensor) -> Tensor:
        """Audio -> scaled log-mel in [-1, 1]: what the diffusion model sees."""
        return self.scaler(self.log_mel(audio))

    # -- resynthesis ----------------------------------------------------------------------
    def decode_log_mel(self, scaled: Tensor) -> Tensor:
        return self.scaler.inverse(scaled)

    def mel_to_magnitude(self, log_mel: Tensor) -> Tensor:
        """Analytic inversion: pseudo-inverse of the mel filterbank, clamped to >= 0."""
        mel = torch.exp(log_mel) - self.config.log_floor
        return (self.mel_pinv @ mel.clamp(min=0)).clamp(min=0)

    def griffin_lim(
        self,
        magnitude: Tensor,
        length: int,
        *,
        n_iter: int = 32,
        momentum: float = 0.99,
        generator: torch.Generator | None = None,
        start: Tensor | None = None,
        linked: bool = False,
    ) -> Tensor:
        """Fast Griffin-Lim (Perraudin et al. 2013): phase for `magnitude` `[..., channels,
        n_freqs, frames]` by alternating projections with momentum; returns `[..., channels,
        length]`. The phase starts from audio `start` `[..., channels, samples]` when given (a
        source or draft whose phase is close to right), else at random from `generator`
        (reproducible). `linked`: the channels keep the phase differences they start with (the
        start's, or none), so one phase is found for all of them and a stereo image survives
        (channels recovered each on its own decorrelate: a centred voice turns into a wide
        smear). Works frame-major, without the transposes and complex divisions of a textbook
        version: most of its CPU speed."""
        magnitude = magnitude.transpose(-1, -2).contiguous()
        linked = linked and magnitude.dim() >= 3 and magnitude.shape[-3] > 1  # a lone channel: nothing to link
        if start is not None:
            angles = unit(self.spectrum(start.to(magnitude.device, magnitude.dtype)))
            angles = F.pad(angles, (0, 0, 0, max(0, magnitude.shape[-2] - angles.shape[-2])), value=1)
            angles = angles[..., :magnitude.shape[-2], :]
        else:
            shape = magnitude.shape[:-3] + (1,) + magnitude.shape[-2:] if linked else magnitude.shape
            if generator is not None:
                phase = torch.rand(shape, generator=generator).to(magnitude.device)
            else:
                phase = torch.rand(shape, device=magnitude.device)
            angles = torch.polar(torch.ones(shape, device=magnitude.device), phase * (2 * math.pi))
        if linked:  # one common phase; each channel keeps its start's offset from it
            common = unit(angles.sum(-3, keepdim=True))
            shaped = magnitude * unit(angles * common.conj())
            angles = common
        else:
            shaped = magnitude.to(angles.dtype)
        previous = torch.zeros_like(shaped)
        weight = momentum / (1 + momentum)
        for _ in range(n_iter):
            rebuilt = self.spectrum(self.synthesis(shaped * angles, length))
            angles = torch.sgn(torch.sub(rebuilt, previous, alpha=weight))  # z / |z|, 0 at 0
            previous = rebuilt
            if linked:  # the common phase nearest to every channel's, weighted by its magnitude
                angles = unit((angles * shaped.conj()).sum(-3, keepdim=True))
        return self.synthesis(shaped * angles, length)
