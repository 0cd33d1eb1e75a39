"""New parts on a trained U-Net: `train --context-guess`, `--outer-width`, `--local-width`.
Each new part starts at zero, so the grown model is the trained one until it trains; a part
that is there in another shape is refused, naming both, and nothing in the run folder changes."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from engine.model import MsaniiModel
from engine.nn import UNet, UNetConfig
from engine.train.config import TrainConfig

log = logging.getLogger(__name__)


def reshape(model: MsaniiModel, config: TrainConfig, model_path: Path, state_path: Path) -> None:
    """What `config` asks of the run's U-Net, done to `model` (before any training step)."""
    if config.context_guess is not None:
        switch_context_guess(model, config.context_guess, model_path)
    if config.outer_width is not None:
        grow_outer_stage(model, config.outer_width, config.outer_blocks, config.outer_timestep, model_path, state_path)
    if config.local_width is not None:
        grow_local_stage(model, config.local_width, config.local_layers, model_path, state_path)


def switch_context_guess(model: MsaniiModel, guess: str, model_path: Path) -> None:
    """Train (on) with another second guess in the context input: same shape, same weights."""
    config = model.config
    if not config.unet.context:
        raise ValueError(f"{model_path}: this U-Net has no context input to give a guess")
    unet = replace(config.unet, context_guess=guess)
    model.config = replace(config, unet=unet)
    model.unet.config = unet


def grow_outer_stage(model: MsaniiModel, width: int, blocks: int, timestep: bool, model_path: Path,
                     state_path: Path) -> None:
    """A full-rank outer stage of `width` and `blocks`, its features scaled per noise level if
    `timestep`. A stage of another shape is refused, and so is one that would lose its scaling."""
    unet = model.config.unet
    have = (unet.d_outer, unet.n_outer_blocks, unet.outer_timestep)
    if have == (width, blocks, timestep):
        return
    if unet.d_outer and (have[:2] != (width, blocks) or have[2]):
        raise ValueError(f"{model_path}: its U-Net has an outer stage of width {have[0]} and {have[1]} "
                         f"blocks{' scaled per noise level' if have[2] else ''}, not {width} and {blocks}"
                         f"{' scaled per noise level' if timestep else ''}; use another run folder")
    grow(model, replace(unet, d_outer=width, n_outer_blocks=blocks, outer_timestep=timestep), "outer", model_path,
         state_path)
    log.info("grew the U-Net of %s an outer stage of width %d, %d blocks%s", model_path, width, blocks,
             ", scaled per noise level" if timestep else "")


def grow_local_stage(model: MsaniiModel, width: int, layers: int, model_path: Path, state_path: Path) -> None:
    """A frequency-local stage (`engine.nn.local`) of `width` and `layers`; one of another shape is refused."""
    unet = model.config.unet
    if (unet.d_local, unet.n_local_layers) == (width, layers):
        return
    if unet.d_local:
        raise ValueError(f"{model_path}: its U-Net has a local stage of width {unet.d_local} and "
                         f"{unet.n_local_layers} layers, not {width} and {layers}; use another run folder")
    grow(model, replace(unet, d_local=width, n_local_layers=layers), "local", model_path, state_path)
    log.info("grew the U-Net of %s a local stage of width %d, %d layers", model_path, width, layers)


def grow(model: MsaniiModel, unet_config: UNetConfig, part: str, model_path: Path, state_path: Path) -> None:
    """Rebuild the U-Net as `unet_config`, keeping every trained weight; only `part` is new."""
    if state_path.is_file():
        raise ValueError(f"{state_path}: this run trained a U-Net without this {part} stage; grow it in a "
                         "new run folder holding only the trained model.safetensors")
    unet = UNet(unet_config)
    missing, unexpected = unet.load_state_dict(model.unet.state_dict(), strict=False)
    if unexpected or any(not key.startswith(part) for key in missing):
        raise ValueError(f"{model_path}: the trained U-Net does not fit the grown one")
    model.unet = unet.to(next(model.unet.parameters()).device)
    model.config = replace(model.config, unet=unet.config)
