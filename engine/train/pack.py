"""`daw-diffusion pack-data`: a small training folder that can travel (to a borrowed GPU, whose
working tree is capped at 64 MiB): an excerpt of every training track in turn, the packages
taken round-robin so each style is in it, as Ogg Vorbis at 44.1 kHz, with the manifest and the
captions already embedded (`captions.pt`), so the machine needs neither the full data nor the
text encoder's weights. Held-out tracks never go in."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from engine.text import text_encoder
from engine.train.manifest import read_manifest, write_manifest

CAPTIONS = "captions.pt"
QUALITY = 0.3  # libsndfile's Vorbis quality (0..1): about 190 kbit/s, 0.73 MiB a stereo minute


@dataclass
class Packed:
    files: int
    mib: float
    minutes: float
    packages: list[str]


def pack_data(data_dir: Path, out_dir: Path, max_mib: float, seconds: float = 60.0, encoder: str = "",
              seed: int = 0) -> Packed:
    """Excerpts of up to `seconds` from the middle of training tracks into `out_dir` until the
    audio would pass `max_mib`; captions embedded with `encoder` ("" : none)."""
    if (out_dir / "manifest.jsonl").exists():
        raise FileExistsError(f"{out_dir} holds a data folder already; pack into a new one")
    rng = np.random.default_rng(seed)
    by_package: dict[str, list[dict]] = {}
    for entry in read_manifest(data_dir, "train"):
        by_package.setdefault(entry.get("package", entry["source"]), []).append(entry)
    if not by_package:
        raise ValueError(f"{data_dir}: no training tracks to pack")
    queues = [[group[i] for i in rng.permutation(len(group))] for group in by_package.values()]
    (out_dir / "audio").mkdir(parents=True)
    entries: list[dict] = []
    size = 0
    for entry in (e for round in itertools.zip_longest(*queues) for e in round if e is not None):
        info = sf.info(entry["path"])
        length = min(info.frames, round(seconds * info.samplerate))
        audio, rate = sf.read(entry["path"], start=(info.frames - length) // 2, frames=length, dtype="float32",
                              always_2d=True)
        path = out_dir / "audio" / (Path(entry["file"]).stem + f"-{len(entries)}.ogg")  # unique if stems repeat
        write_vorbis(path, audio, rate)
        if size + path.stat().st_size > max_mib * 2**20:
            path.unlink()
            break
        size += path.stat().st_size
        entries.append({**{k: v for k, v in entry.items() if k != "path"}, "file": f"audio/{path.name}",
                        "duration": round(length / rate, 3), "packed_from": entry["file"]})
    write_manifest(out_dir, entries)
    if encoder:
        save_captions(out_dir, encoder, sorted({e["caption"] for e in entries}))
    return Packed(len(entries), round(size / 2**20, 2), round(sum(e["duration"] for e in entries) / 60, 1),
                  sorted({e.get("package", e["source"]) for e in entries}))


def write_vorbis(path: Path, audio: np.ndarray, rate: int) -> None:
    """`audio` `[frames, channels]` as Ogg Vorbis, written a block at a time (libsndfile 1.2's
    Vorbis encoder crashes on one long write)."""
    with sf.SoundFile(path, "w", rate, audio.shape[1], format="OGG", subtype="VORBIS",
                      compression_level=1 - QUALITY) as f:
        for start in range(0, len(audio), 8192):
            f.write(audio[start:start + 8192])


def save_captions(out_dir: Path, encoder: str, captions: list[str]) -> None:
    embeddings, mask = text_encoder(encoder).encode(captions)
    torch.save({"encoder": encoder, "captions": captions, "embeddings": embeddings.half(), "mask": mask},
               out_dir / CAPTIONS)


def load_captions(data_dir: Path, encoder: str) -> dict[str, tuple[torch.Tensor, int]] | None:
    """The folder's embedded captions if `encoder` made them, else None."""
    path = data_dir / CAPTIONS
    if not path.is_file():
        return None
    stored = torch.load(path, weights_only=True)  # plain tensors and strings: no code runs
    if stored["encoder"] != encoder:
        return None
    return {text: (stored["embeddings"][i].float(), int(stored["mask"][i].sum()))
            for i, text in enumerate(stored["captions"])}
