"""`daw-diffusion prepare-data`: build a training set and its manifest.

From MIDI: music21's corpus, each piece rendered a few times with FluidSynth, each render with
its own instruments, tempo, transposition and stereo placement. From audio: any folder of the
user's recordings (a `.txt` beside a file, same name, is its caption). From Debian: the real,
produced music of game-data packages (`engine.train.debian`), each file with its licence. Output: 44.1 kHz stereo
16-bit WAVs and `manifest.jsonl` (file, duration, caption, split, ...). The held-out split is
chosen per piece, so no render of a held-out piece is ever trained on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import random
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import torch

from engine.audio import resample
from engine.train import corpus, debian, fluidsynth
from engine.train.captions import INSTRUMENTS, RenderFacts, caption
from engine.train.manifest import ensure_held_out, held_out, kept_entries, write_manifest

log = logging.getLogger(__name__)
# Workers start fresh: a forked child of a process whose torch threads already ran can deadlock.
WORKERS = multiprocessing.get_context("spawn")
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff"}
SAMPLE_RATE = 44_100


@dataclass
class Report:
    rendered: int = 0
    imported: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    warnings: list[str] = field(default_factory=list)

    def skip(self, reason: str, detail: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        self.warnings.append(detail)
        log.warning("skipped: %s", detail)


def finish_audio(audio: np.ndarray, rate: int, max_seconds: float) -> np.ndarray:
    """`[C, S]` -> stereo at 44.1 kHz, leading/trailing silence trimmed, cropped, peak 0.9."""
    wave = resample(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)), rate, SAMPLE_RATE).numpy()
    if wave.shape[0] == 1:
        wave = np.repeat(wave, 2, axis=0)
    wave = wave[:2]
    loud = np.flatnonzero(np.abs(wave).max(0) > 1e-3)
    if loud.size == 0:
        return wave[:, :0]
    wave = wave[:, loud[0]: loud[-1] + 1][:, : round(max_seconds * SAMPLE_RATE)]
    return wave * (0.9 / max(float(np.abs(wave).max()), 1e-9))


def write_entry(out_dir: Path, name: str, audio: np.ndarray, meta: dict) -> dict:
    path = out_dir / "audio" / f"{name}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio.T, SAMPLE_RATE, subtype="PCM_16")
    return {"file": str(path.relative_to(out_dir)), "duration": round(audio.shape[-1] / SAMPLE_RATE, 3), **meta}


@dataclass(frozen=True)
class RenderPlan:
    out_dir: Path
    renders_per_piece: int
    held_out_fraction: float
    max_seconds: float
    min_seconds: float
    seed: int
    soundfont: Path


def render_piece(piece: corpus.Piece, plan: RenderPlan) -> tuple[list[dict], list[tuple[str, str]]]:
    """Convert one piece and render its variations; returns (entries, skips). Its random
    choices depend only on the piece and the seed, so parallel runs give the same data set."""
    rng = random.Random(f"{plan.seed}/{piece.id}")
    names = sorted(INSTRUMENTS)
    entries, skips = [], []
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "source.mid"
        try:
            facts = corpus.write_midi(piece, source)
        except corpus.ConversionError as exc:
            return [], [("conversion failed", str(exc))]
        split = "heldout" if held_out(piece.id, plan.held_out_fraction) else "train"
        for k in range(plan.renders_per_piece):
            instruments = tuple(rng.choice(names) for _ in range(facts.parts))
            if rng.random() < 0.4:  # whole ensembles of one family are common in practice
                instruments = (instruments[0],) * facts.parts
            spread = rng.uniform(0.3, 1.0)  # how wide the parts are spread left to right
            pans = [round(64 + 50 * spread * (2 * i / max(1, facts.parts - 1) - 1)) for i in range(facts.parts)]
            tempo_factor, transpose = rng.uniform(0.8, 1.25), rng.randint(-5, 5)
            varied, wav = Path(scratch) / f"render{k}.mid", Path(scratch) / f"render{k}.wav"
            try:
                bpm = fluidsynth.vary_midi(source, varied, [INSTRUMENTS[n] for n in instruments],
                                           pans, tempo_factor, transpose, plan.max_seconds + 2)
                fluidsynth.render(varied, wav, plan.soundfont)
                audio, rate = sf.read(wav, dtype="float32", always_2d=True)
            except (fluidsynth.RenderError, OSError, ValueError) as exc:
                skips.append(("render failed", f"{piece.id}: {exc}"))
                continue
            audio = finish_audio(audio.T, rate, plan.max_seconds)
            if audio.shape[-1] < plan.min_seconds * SAMPLE_RATE:
                skips.append(("too short", f"{piece.id}: under {plan.min_seconds:g} s after trimming"))
                continue
            render_facts = RenderFacts(piece.collection.form, facts.parts, instruments, bpm,
                                       transposed_key(facts.key, transpose))
            name = f"{piece.id.replace('/', '_').replace('#', '_')}-{k}"
            entries.append(write_entry(plan.out_dir, name, audio, {
                "caption": caption(render_facts), "split": split, "source": "midi", "piece": piece.id,
                "facts": asdict(render_facts), "transpose": transpose}))
    return entries, skips


def render_corpus(plan: RenderPlan, report: Report, collections: tuple[corpus.Collection, ...],
                  scale: float, workers: int) -> list[dict]:
    pieces = corpus.list_pieces(collections, scale=scale, seed=plan.seed)
    entries = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=WORKERS) as pool:
        for done, (found, skips) in enumerate(pool.map(render_piece, pieces, [plan] * len(pieces)), 1):
            entries += found
            report.rendered += len(found)
            for reason, detail in skips:
                report.skip(reason, detail)
            if done % 20 == 0 or done == len(pieces):
                log.info("%d/%d pieces, %d renders", done, len(pieces), report.rendered)
    return entries


def transposed_key(key: str, semitones: int) -> str:
    if not key:
        return ""
    from music21 import key as m21key

    tonic, mode = key.split(" ", 1)
    return m21key.Key(tonic, mode).transpose(semitones).name


def import_audio(folder: Path, out_dir: Path, report: Report, *, held_out_fraction: float,
                 max_seconds: float, min_seconds: float) -> list[dict]:
    if not folder.is_dir():
        report.skip("missing folder", f"{folder}: not a folder")
        return []
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        report.skip("empty folder", f"{folder}: no audio files ({', '.join(sorted(AUDIO_SUFFIXES))})")
    entries = []
    for path in files:
        audio, _, problem = read_audio(path, max_seconds, min_seconds)
        if audio is None:
            report.skip(problem.split(":")[0], f"{path}: {problem}")
            continue
        sidecar = path.with_suffix(".txt")
        text = sidecar.read_text().strip() if sidecar.is_file() else f"recording, {path.parent.name}"
        piece = f"audio/{path.relative_to(folder)}"
        name = "audio_" + hashlib.sha1(piece.encode()).hexdigest()[:10] + "_" + path.stem[:40]
        entries.append(write_entry(out_dir, name, audio, {
            "caption": text, "split": "heldout" if held_out(piece, held_out_fraction) else "train",
            "source": "audio", "piece": piece}))
        report.imported += 1
    return entries


def read_audio(source: str | Path | BinaryIO, max_seconds: float,
               min_seconds: float) -> tuple[np.ndarray | None, dict, str]:
    """Decode a file (a path or an open binary file) -> (stereo 44.1 kHz audio or None, its
    tags, why not)."""
    try:
        with sf.SoundFile(source) as sound:
            tags = {k: v for k, v in sound.copy_metadata().items() if isinstance(v, str)}
            audio = sound.read(dtype="float32", always_2d=True)
            rate = sound.samplerate
    except Exception as exc:  # libsndfile: corrupt or unsupported
        return None, {}, f"unreadable audio: {exc}"
    if not np.isfinite(audio).all():
        return None, {}, "unreadable audio: NaN or infinite samples"
    audio = finish_audio(audio.T, rate, max_seconds)
    if audio.shape[-1] < min_seconds * SAMPLE_RATE:
        return None, {}, f"too short: under {min_seconds:g} s of sound"
    return audio, tags, ""


def read_track(track: debian.Track, max_seconds: float, min_seconds: float) -> tuple[np.ndarray | None, dict, str]:
    with track.open() as f:
        return read_audio(f, max_seconds, min_seconds)


def import_debian(package: str, cache: Path, out_dir: Path, report: Report, *, held_out_fraction: float,
                  max_seconds: float, min_seconds: float, workers: int) -> list[dict]:
    """Fetch one package and import every music file in it; a package that cannot be fetched
    is skipped with its reason, unreadable files are skipped and counted."""
    try:
        found = debian.tracks(package, debian.fetch(package, cache))
    except debian.PackageError as exc:
        report.skip("package unavailable", str(exc))
        return []
    if not found:
        report.skip("no music in package", f"{package}: no music files")
    entries = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=WORKERS) as pool:
        decoded = pool.map(read_track, found, [max_seconds] * len(found), [min_seconds] * len(found))
        for track, (audio, tags, problem) in zip(found, decoded):
            if audio is None:
                report.skip(problem.split(":")[0], f"{track.piece}: {problem}")
                continue
            name = "deb_" + hashlib.sha1(track.piece.encode()).hexdigest()[:10] + "_" + \
                Path(track.name.split("!")[-1]).stem[:40]
            entries.append(write_entry(out_dir, name, audio, {
                "caption": debian.caption(track, tags), "split": "heldout" if held_out(track.piece, held_out_fraction)
                else "train", "source": "debian", "piece": track.piece, "package": package,
                "licence": track.licence, **({"bpm": track.bpm} if track.bpm else {})}))
            report.imported += 1
    log.info("%s: %d of %d files imported", package, len(entries), len(found))
    return entries


def prepare_data(out_dir: Path, *, midi: bool = True, audio_dirs: tuple[Path, ...] = (),
                 debian_packages: tuple[str, ...] = (), debian_cache: Path | None = None,
                 scale: float = 1.0, renders_per_piece: int = 2, held_out_fraction: float = 0.1,
                 max_seconds: float = 90.0, min_seconds: float = 4.0, seed: int = 0,
                 soundfont: str | Path | None = None, workers: int = 2,
                 collections: tuple[corpus.Collection, ...] = corpus.COLLECTIONS) -> Report:
    """Write the data set into `out_dir` (audio/ and manifest.jsonl); returns what happened."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = Report()
    entries: list[dict] = []
    if midi:
        try:
            font = fluidsynth.find_soundfont(soundfont)
            fluidsynth.find_fluidsynth()
        except fluidsynth.RenderError as exc:
            report.skip("no synthesizer", str(exc))
        else:
            plan = RenderPlan(out_dir, renders_per_piece, held_out_fraction, max_seconds, min_seconds, seed, font)
            entries += render_corpus(plan, report, collections, scale, workers)
    for package in debian_packages:
        entries += import_debian(package, debian_cache or out_dir / "debian", out_dir, report,
                                 held_out_fraction=held_out_fraction, max_seconds=max_seconds,
                                 min_seconds=min_seconds, workers=workers)
    for folder in audio_dirs:
        entries += import_audio(Path(folder), out_dir, report, held_out_fraction=held_out_fraction,
                                max_seconds=max_seconds, min_seconds=min_seconds)
    entries += kept_entries(out_dir, {e["file"] for e in entries})
    ensure_held_out(entries, held_out_fraction)
    write_manifest(out_dir, entries)
    (out_dir / "prepare_report.json").write_text(json.dumps(asdict(report), indent=1))
    return report
