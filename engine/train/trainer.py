"""`daw-diffusion train magnitude|diffusion`: one loop for both stages, following Msanii
(Adam beta1 0.5, lr 2e-4 with warm-up, EMA weights, gradient clipping), with random crops,
bf16 autocast on CUDA, a time budget, resumable checkpoints and `torchrun` (DDP).

A run folder holds `model.safetensors` (the inference checkpoint: trained magnitude network
and scalers after stage 1, plus the EMA U-Net after stage 2) and `state-<stage>.pt` (everything needed to
resume). Stage 2 starts from stage 1's file, so both share the scaler statistics.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import shutil
import signal
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from engine.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from engine.device import autocast, pick_device
from engine.model import ModelConfig, MsaniiModel
from engine.train.conditions import Conditions
from engine.train.config import TrainConfig, hardware
from engine.train.data import CropSampler
from engine.train.grow import reshape
from engine.train.losses import diffusion_loss, magnitude_loss
from engine.train.manifest import read_manifest
from engine.train.masks import draw_unknown

log = logging.getLogger(__name__)


def save_atomic(obj: object, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class Trainer:
    def __init__(self, config: TrainConfig) -> None:
        self.config = c = config
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if self.world > 1:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend)
            self.device = torch.device(f"cuda:{os.environ.get('LOCAL_RANK', '0')}") if backend == "nccl" \
                else torch.device("cpu")
        else:
            self.device = pick_device(c.device)
        torch.manual_seed(c.seed + self.rank)
        self.model_path = c.run_dir / "model.safetensors"
        self.state_path = c.run_dir / f"state-{c.stage}.pt"
        if c.stage == "magnitude" and not self.state_path.exists() and (c.run_dir / "state-vocoder.pt").exists():
            self.state_path = c.run_dir / "state-vocoder.pt"  # a run interrupted before the stage was renamed
        self.model, self.metadata = self.load_or_create()
        self.model.to(self.device)
        reshape(self.model, c, self.model_path, self.state_path)
        if c.fresh:  # e.g. retrain the magnitude network of a finished run; the scalers stay as they are
            fresh = MsaniiModel(self.model.config)
            part = "magnitude_net" if c.stage == "magnitude" else "unet"
            getattr(self.model, part).load_state_dict(getattr(fresh, part).state_dict())
            self.state_path.unlink(missing_ok=True)
        self.module = self.model.magnitude_net if c.stage == "magnitude" else self.model.unet
        self.net = DistributedDataParallel(self.module) if self.world > 1 else self.module
        self.ema = copy.deepcopy(self.module).requires_grad_(False) if c.stage == "diffusion" else None
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=c.lr, betas=(c.beta1, 0.999))
        self.schedule = torch.optim.lr_scheduler.LinearLR(
            self.optimizer, start_factor=1 / 3, total_iters=max(1, c.warmup_steps))
        entries = read_manifest(c.data_dir, "train")
        self.sampler = CropSampler(entries, c.crop_frames, self.model.config.spectral, c.seed * 1000 + self.rank)
        self.generator = torch.Generator().manual_seed(c.seed * 1000 + self.rank)
        encoder = self.model.config.conditioning.text_encoder if c.stage == "diffusion" else ""
        self.conditions = Conditions(encoder, sorted({e["caption"] for e in entries}),
                                     self.model.config.conditioning.dropout, c.data_dir)
        self.step, self.elapsed = 0, 0.0
        self.losses: list[float] = []
        self.runs: list[dict] = []  # one entry per invocation: steps, seconds, hardware
        self.stop_requested = False
        if self.state_path.is_file():
            self.resume()
        elif c.stage == "diffusion" and (c.fresh or not self.metadata.get("trained", {}).get("unet")):
            self.measure_data(entries)
        elif c.stage == "diffusion":
            self.continue_checkpoint()

    def measure_data(self, entries: list[dict]) -> None:
        """Mean and standard deviation of the scaled mels, for the diffusion space (a new
        U-Net only: the numbers belong to its weights). The same crops on every DDP rank."""
        crops = CropSampler(entries, self.config.crop_frames, self.model.config.spectral, self.config.seed)
        with torch.no_grad():
            mels = torch.cat([self.model.spectral.encode(crops.batch(8)[0]).flatten() for _ in range(16)])
        diffusion = replace(self.model.config.diffusion, data_mean=round(float(mels.mean()), 4),
                            data_std=round(float(mels.std()), 4))
        self.model.config = replace(self.model.config, diffusion=diffusion)
        log.info("diffusion space: (mel - %.4f) / %.4f", diffusion.data_mean, diffusion.data_std)

    # -- set-up -----------------------------------------------------------------------------
    def load_or_create(self) -> tuple[MsaniiModel, dict]:
        c = self.config
        if self.model_path.is_file():
            model, meta = load_checkpoint(self.model_path)
            return model.train(), meta
        if c.stage == "diffusion":
            raise FileNotFoundError(f"{self.model_path}: train the magnitude network first (it fits the mel scalers "
                                    "that the diffusion stage uses)")
        return MsaniiModel(ModelConfig.preset(c.preset, text_encoder=c.text_encoder)).train(), {
            "trained": {"unet": False, "magnitude": False}, "info": {}}

    # -- the loop ---------------------------------------------------------------------------
    def loss(self) -> torch.Tensor:
        audio, captions = self.sampler.batch(self.config.batch_size)
        audio = audio.to(self.device)
        spectral = self.model.spectral
        with autocast(self.device) if self.device.type == "cuda" else contextlib.nullcontext():
            if self.config.stage == "magnitude":
                fit = not self.metadata.get("trained", {}).get("unet")  # a trained U-Net needs these statistics
                return magnitude_loss(self.model, audio, self.net, fit_scaler=fit)
            cond, mask = self.conditions.batch(captions, self.generator, self.device)
            config = self.model.config
            unknown = None
            if config.unet.context:
                frames = config.spectral.frames_for(audio.shape[-1])
                unknown = draw_unknown(audio.shape[0], frames, config.spectral.frame_rate,
                                       self.generator)
            return diffusion_loss(self.net, spectral, self.model.schedule, audio, config.diffusion.prediction,
                                  cond, mask, self.generator, (config.diffusion.data_mean, config.diffusion.data_std),
                                  unknown, config.unet.context_guess)

    def update_ema(self) -> None:
        c = self.config
        if self.ema is None or self.step % c.ema_every:
            return
        decay = 0.0 if self.step < c.ema_start else c.ema_decay  # copy until EMA starts
        with torch.no_grad():
            for averaged, current in zip(self.ema.parameters(), self.module.parameters()):
                averaged.lerp_(current, 1 - decay)
            for kept, buffer in zip(self.ema.buffers(), self.module.buffers()):
                kept.copy_(buffer)

    def should_stop(self, started: float) -> bool:
        c = self.config
        stop = self.stop_requested or self.step >= c.max_steps or \
            (c.time_budget is not None and time.monotonic() - started >= c.time_budget)
        if self.world > 1:  # every rank stops at the same step
            flag = torch.tensor(float(stop), device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item())
        return stop

    def run(self) -> Path:
        c = self.config
        c.run_dir.mkdir(parents=True, exist_ok=True)
        previous = {sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        started = last_save = time.monotonic()
        elapsed_before = self.elapsed
        self.runs.append({"date": time.strftime("%Y-%m-%d %H:%M"), "first_step": self.step, "steps": 0, "seconds": 0.0,
                          "device": str(self.device), "hardware": hardware(), "world_size": self.world})
        bar = tqdm(initial=self.step, total=c.max_steps if c.max_steps < 1_000_000 else None,
                   disable=not c.progress or self.rank != 0, unit="step", desc=c.stage)
        seconds_per_batch = c.batch_size * self.sampler.samples / self.model.config.spectral.sample_rate
        try:
            while not self.should_stop(started):
                tick = time.monotonic()
                loss = self.loss()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.module.parameters(), c.grad_clip)
                self.optimizer.step()
                self.schedule.step()
                self.step += 1
                self.decay_lr()
                self.update_ema()
                self.losses.append(float(loss.detach()))
                self.elapsed = elapsed_before + time.monotonic() - started
                recent = sum(self.losses[-50:]) / len(self.losses[-50:])
                speed = seconds_per_batch * self.world / (time.monotonic() - tick)
                bar.set_postfix(loss=f"{recent:.4f}", audio_s_per_s=f"{speed:.1f}")
                bar.update(1)
                if bar.disable and self.rank == 0 and self.step % 100 == 0:
                    log.info("%s step %d: loss %.4f, %.1f s of audio per second", c.stage, self.step, recent, speed)
                if time.monotonic() - last_save >= c.checkpoint_every:
                    self.save()
                    last_save = time.monotonic()
        finally:
            bar.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.save()
        if self.world > 1:
            dist.barrier()  # the others wait for rank 0's checkpoint
            dist.destroy_process_group()
        return self.model_path

    def request_stop(self, *_: object) -> None:
        log.warning("stop requested: finishing this step and saving a checkpoint")
        self.stop_requested = True

    # -- checkpoints ------------------------------------------------------------------------
    def save(self) -> None:
        if self.rank != 0:
            return
        c = self.config
        if self.runs:
            current = self.runs[-1]
            current["steps"] = self.step - current["first_step"]
            current["seconds"] = round(self.elapsed - sum(r["seconds"] for r in self.runs[:-1]), 1)
        save_atomic({
            "step": self.step, "elapsed": self.elapsed, "losses": self.losses[-10_000:], "runs": self.runs,
            "module": self.module.state_dict(), "ema": self.ema.state_dict() if self.ema else None,
            "optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
            "scaler": self.model.spectral.scaler.state_dict(), "sampler": self.sampler.state(),
            "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(),
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(c).items()},
        }, self.state_path)
        export = copy.deepcopy(self.model).cpu()
        if self.ema is not None:
            export.unet.load_state_dict(self.ema.state_dict())
        trained = dict(self.metadata.get("trained", {}))
        trained["magnitude" if c.stage == "magnitude" else "unet"] = True
        info = dict(self.metadata.get("info", {}))
        info[c.stage] = {
            "steps": self.step, "wall_seconds": round(self.elapsed, 1),
            "final_loss": round(sum(self.losses[-100:]) / max(1, len(self.losses[-100:])), 5),
            "batch_size": c.batch_size, "crop_frames": c.crop_frames, "world_size": self.world,
            "device": str(self.device), "hardware": hardware(),
            "data": str(c.data_dir), "seed": c.seed, "runs": self.runs,
        }
        save_checkpoint(export, self.model_path, trained=trained, info=info)
        self.metadata = read_metadata(self.model_path)
        self.snapshot()

    def snapshot(self) -> None:
        """Keep a copy of the inference checkpoint every `snapshot_every` seconds of training,
        named by step and training time, for the quality-versus-training-time curve."""
        every = self.config.snapshot_every
        folder = self.config.run_dir / "snapshots"
        if not every or self.config.stage != "diffusion":
            return
        taken = [float(p.stem.rsplit("-", 1)[-1].rstrip("s")) for p in folder.glob("model-*-*s.safetensors")]
        if taken and self.elapsed - max(taken) < every:
            return
        folder.mkdir(exist_ok=True)
        shutil.copyfile(self.model_path, folder / f"model-{self.step}-{round(self.elapsed)}s.safetensors")

    def decay_lr(self) -> None:
        """After the warm-up, over the last `decay_steps` before `max_steps`: the learning rate
        falls linearly to 0 (a model that stopped improving at a constant rate settles)."""
        c = self.config
        if c.decay_steps > 0 and self.schedule.last_epoch >= c.warmup_steps:
            for group in self.optimizer.param_groups:
                group["lr"] = c.lr * min(1.0, max(0, c.max_steps - self.step) / c.decay_steps)

    def continue_checkpoint(self) -> None:
        """No kept state, but a trained U-Net (e.g. the committed default copied into a run
        folder): go on from its (EMA) weights with a fresh optimizer and warm-up, keeping
        its step count, training time and run history."""
        info = self.metadata.get("info", {}).get("diffusion", {})
        self.step, self.elapsed = int(info.get("steps", 0)), float(info.get("wall_seconds", 0.0))
        self.runs = list(info.get("runs", []))
        log.info("continuing the U-Net of %s from step %d (%.0f s so far; new optimizer)",
                 self.model_path, self.step, self.elapsed)

    def resume(self) -> None:
        state = torch.load(self.state_path, map_location=self.device, weights_only=True)  # plain data: no code runs
        ours = {k: tuple(v.shape) for k, v in self.module.state_dict().items()}
        theirs = {k: tuple(v.shape) for k, v in state["module"].items()}
        if ours != theirs:
            raise ValueError(f"{self.state_path} holds a {self.config.stage} network of another architecture "
                             f"({describe(theirs)}) than {self.model_path} ({describe(ours)}); "
                             "use another run folder")
        self.module.load_state_dict(state["module"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.model.spectral.scaler.load_state_dict(state["scaler"])
        self.sampler.restore(state["sampler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.step, self.elapsed, self.losses = state["step"], state["elapsed"], list(state["losses"])
        # states written before runs were recorded: all of it was one earlier run
        self.runs = state.get("runs") or [{"date": "", "first_step": 0, "steps": self.step, "seconds": round(self.elapsed, 1),
                                           "device": str(self.device), "hardware": hardware(), "world_size": self.world}]
        log.info("resumed %s training at step %d (%.0f s so far)", self.config.stage, self.step, self.elapsed)


def describe(shapes: dict[str, tuple[int, ...]]) -> str:
    """A network's architecture in a few words, from its weights' shapes."""
    outer, local = shapes.get("outer_output.weight"), shapes.get("local.output.weight")
    first = shapes.get("input.weight") or next(iter(shapes.values()), ())
    return f"{len(shapes)} tensors, input {first[:2]}" + (f", outer stage width {outer[1]}" if outer else "") + \
        (f", local stage width {local[1]}" if local else "")


def train(config: TrainConfig) -> dict:
    path = Trainer(config).run()
    meta = read_metadata(path)
    return {"ok": True, "checkpoint": str(path), "trained": meta["trained"], "info": meta["info"].get(config.stage)}
