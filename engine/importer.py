"""Converts a checkpoint of the reference Msanii code into a `msanii-original` model
(`engine.original`), once, when `daw-diffusion models import` adds it.

The reference's `Pipeline.save_pretrained` writes a `torch.save` dict: `transforms_config`,
`vocoder_config`, `unet_config`, `scheduler_config` (diffusers' `FrozenDict`s) and the state
dicts of `transforms`, `vocoder` and `unet`. A `.pt` file is a pickle, and unpickling can run
code: it is read with torch's weights-only unpickler, which builds nothing but plain containers
and tensors (the `FrozenDict`s are read as ordinary dicts); a file that asks for anything else is
refused, never executed. Every config key is known or refused; every weight is renamed by the
table below, and a weight left over or missing refuses the file. Every failure names the file."""

from __future__ import annotations

import collections
import hashlib
import io
import pickle
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from engine.diffusion.schedule import DiffusionConfig
from engine.errors import CheckpointError
from engine.nn import MagnitudeConfig
from engine.nn.original_unet import OriginalUNetConfig
from engine.original import OriginalConfig, OriginalMsaniiModel
from engine.spectral import SpectralConfig

PARTS = ("transforms", "vocoder", "unet")
TRAINED_ON = ("unknown: a Msanii reference checkpoint (the authors' released msanii.pt learned from "
              "POP909's piano arrangements rendered with FluidSynth)")

# what the weights-only unpickler may build besides containers and tensors: diffusers' config
# dict, as a plain ordered dict (it never imports diffusers)
SAFE_GLOBALS: list[Any] = [(collections.OrderedDict, "diffusers.configuration_utils.FrozenDict")]

# config keys the conversion reads; keys starting with "_" are diffusers' bookkeeping
TRANSFORMS_KEYS = {"sample_rate", "n_fft", "win_length", "hop_length", "n_mels", "feature_range", "momentum",
                   "momentum_decay", "eps", "clip", "num_griffin_lim_iters", "griffin_lim_momentum"}
VOCODER_KEYS = {"n_fft", "n_mels", "d_model", "d_hidden_factor"}
UNET_KEYS = {f.name for f in fields(OriginalUNetConfig)}
# a DDIM or DPM-Solver config; only the schedule and the prediction matter here (the engine's
# own samplers take the steps)
SCHEDULER_KEYS = {"num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas",
                  "clip_sample", "clip_sample_range", "set_alpha_to_one", "steps_offset", "prediction_type",
                  "thresholding", "dynamic_thresholding_ratio", "sample_max_value", "solver_order",
                  "algorithm_type", "solver_type", "lower_order_final", "variance_type", "timestep_spacing"}
PREDICTIONS = {"epsilon": "eps", "v_prediction": "v"}

# the reference's weight names -> this project's, applied in order (modules are numbered alike)
RENAMES = [
    (r"^input_fn\.1\.", "input."), (r"^output_fn\.0\.", "output."), (r"^timestep_embedding\.fn\.", "time_mlp."),
    (r"^encoder_blocks\.", "encoder."), (r"^decoder_blocks\.", "decoder."),
    (r"^middle_block\.in_residual_fn\.", "middle.0."), (r"^middle_block\.attention_fn\.", "middle.1."),
    (r"^middle_block\.out_residual_fn\.", "middle.2."),
    (r"\.attention_fn\.", ".attention."), (r"\.residual_fn\.(?=.*_fn\.)", ".residual."),  # a block's parts
    (r"^middle\.1\.in_fn\.1\.", "middle.1.qkv."), (r"^middle\.1\.out_fn\.", "middle.1.out."),
    (r"attention\.in_fn\.1\.", "attention.qkv."), (r"attention\.out_fn\.", "attention.out."),
    (r"in_fn\.1\.", "conv."), (r"out_fn\.", "mlp."), (r"timestep_fn\.", "embed."), (r"residual_fn\.", "skip."),
]
VOCODER_RENAMES = [(r"^fn\.0\.1\.", "input."), (r"^fn\.1\.", "residual."), (r"^fn\.2\.0\.", "output."),
                   (r"in_fn\.1\.", "conv."), (r"out_fn\.", "mlp."), (r"residual_fn\.", "skip.")]
SCALER_NAMES = {"standard_scaler.running_mean": "mean", "standard_scaler.running_var": "var",
                "minmax_scaler.running_min": "min", "minmax_scaler.running_max": "max",
                "standard_scaler.momentum": "momentum"}


def read_reference(path: Path, data: bytes) -> dict[str, Any]:
    """The dict in `data` (the bytes of `path`), unpickled safely, with its parts all there."""
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            checkpoint = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        asked = re.search(r"GLOBAL ([\w.]+)", str(exc))
        raise CheckpointError(f"{path}: refused, not run: the file asks to build "
                              f"{asked.group(1) if asked else 'something'}, which a Msanii checkpoint does not hold "
                              "(it holds only containers and tensors)") from None
    except Exception as exc:  # zipfile, EOF and torch's own errors for a damaged file
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint, truncated or damaged? "
                              f"({type(exc).__name__}: {exc})") from None
    wanted = [f"{part}_{what}" for part in PARTS for what in ("config", "state_dict")]
    if not isinstance(checkpoint, dict) or any(not isinstance(checkpoint.get(key), dict) for key in wanted):
        raise CheckpointError(f"{path}: not a Msanii checkpoint (it needs {', '.join(wanted)}: what the "
                              "reference's Pipeline.save_pretrained writes)")
    return checkpoint


def known(path: Path, part: str, config: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """`config` without diffusers' bookkeeping; an unknown key refuses the file."""
    config = {key: value for key, value in config.items() if not str(key).startswith("_")}
    unknown = sorted(set(config) - keys)
    if unknown:
        raise CheckpointError(f"{path}: {part}_config has keys this version does not know: {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(keys))})")
    return config


def model_config(path: Path, checkpoint: dict[str, Any]) -> OriginalConfig:
    t = known(path, "transforms", checkpoint["transforms_config"], TRANSFORMS_KEYS)
    v = known(path, "vocoder", checkpoint["vocoder_config"], VOCODER_KEYS)
    u = known(path, "unet", checkpoint["unet_config"], UNET_KEYS)
    s = known(path, "scheduler", checkpoint.get("scheduler_config") or {}, SCHEDULER_KEYS)
    n_fft = t.get("n_fft", 2048)
    win = t.get("win_length") or n_fft
    hop = t.get("hop_length") or win // 2
    problems = [
        (win != n_fft, f"win_length {win} differs from n_fft {n_fft}"),
        (tuple(t.get("feature_range", (-1.0, 1.0))) != (-1.0, 1.0), "feature_range is not (-1, 1)"),
        (not t.get("clip", True), "its scaler does not clip"),
        (v.get("n_fft", 2048) != n_fft or v.get("n_mels", 128) != t.get("n_mels", 128),
         "its vocoder's n_fft or n_mels differ from its transforms'"),
        (u.get("d_freq", 128) != t.get("n_mels", 128), "its U-Net's d_freq differs from n_mels"),
        (s.get("beta_schedule", "squaredcos_cap_v2") != "squaredcos_cap_v2" or s.get("trained_betas") is not None,
         f"noise schedule {s.get('beta_schedule')!r} (this version runs the cosine 'squaredcos_cap_v2')"),
        (s.get("prediction_type", "epsilon") not in PREDICTIONS,
         f"prediction_type {s.get('prediction_type')!r} (known: {', '.join(PREDICTIONS)})"),
    ]
    refused = [why for bad, why in problems if bad]
    if refused:
        raise CheckpointError(f"{path}: cannot run this Msanii model: {'; '.join(refused)}")
    try:
        spectral = SpectralConfig(sample_rate=t.get("sample_rate", 44_100), n_fft=n_fft, hop_length=hop,
                                  n_mels=t.get("n_mels", 128), scaler_momentum=t.get("momentum", 1e-3),
                                  scaler_momentum_decay=t.get("momentum_decay", 0.99), scaler_eps=t.get("eps", 1e-5))
        return OriginalConfig(
            spectral=spectral, unet=OriginalUNetConfig(**u),
            magnitude=MagnitudeConfig(n_mels=spectral.n_mels, n_freqs=spectral.n_freqs, residual=False,
                                      d_model=v.get("d_model", 256), d_hidden_factor=v.get("d_hidden_factor", 4)),
            diffusion=DiffusionConfig(train_steps=s.get("num_train_timesteps", 1000),
                                      prediction=PREDICTIONS[s.get("prediction_type", "epsilon")]))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot run this Msanii model: {exc}") from None


def renamed(key: str, table: list[tuple[str, str]]) -> str:
    for pattern, new in table:
        key = re.sub(pattern, new, key)
    return key


def weights(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Every weight under this project's name."""
    out = {f"unet.{renamed(k, RENAMES)}": v for k, v in checkpoint["unet_state_dict"].items()}
    out |= {f"magnitude_net.{renamed(k, VOCODER_RENAMES)}": v for k, v in checkpoint["vocoder_state_dict"].items()}
    transforms = checkpoint["transforms_state_dict"]
    out |= {f"spectral.scaler.{new}": transforms[old] for old, new in SCALER_NAMES.items() if old in transforms}
    fitted = [transforms.get(f"{s}.fitted") for s in ("standard_scaler", "minmax_scaler")]
    if all(isinstance(f, torch.Tensor) for f in fitted):
        out["spectral.scaler.fitted"] = torch.tensor(all(bool(f) for f in fitted))
    return out


def convert(path: Path, trained_on: str | None = None) -> tuple[OriginalMsaniiModel, dict[str, Any]]:
    """The model a reference checkpoint holds, and what its checkpoint here should say of it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    checkpoint = read_reference(path, data)
    config = model_config(path, checkpoint)
    model = OriginalMsaniiModel(config)
    expected = model.state_dict()
    stored = weights(checkpoint)
    missing, unexpected = sorted(set(expected) - set(stored)), sorted(set(stored) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: its weights do not match its config (missing: {', '.join(missing[:5]) or '-'}; "
                              f"unexpected: {', '.join(unexpected[:5]) or '-'})")
    for name, value in stored.items():
        if not isinstance(value, torch.Tensor) or value.numel() != expected[name].numel():
            raise CheckpointError(f"{path}: weight {name} has the wrong shape for its config")
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise CheckpointError(f"{path}: weight {name} holds NaN or infinite values")
    model.load_state_dict({k: v.reshape(expected[k].shape).to(expected[k].dtype) for k, v in stored.items()})
    fb = checkpoint["transforms_state_dict"].get("mel_scale.fb")
    if isinstance(fb, torch.Tensor) and (fb.shape != model.spectral.mel_basis.T.shape
                                         or not torch.allclose(fb.float(), model.spectral.mel_basis.T, atol=1e-5)):
        raise CheckpointError(f"{path}: its mel filterbank is not the one its config describes")
    info = {"imported_from": path.name, "sha256": hashlib.sha256(data).hexdigest(), "source": "Msanii reference checkpoint "
            "(Pipeline.save_pretrained)", "trained_on": trained_on or TRAINED_ON}
    return model.eval(), info
