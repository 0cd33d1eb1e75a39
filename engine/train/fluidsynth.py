"""Varying a MIDI file (instruments, tempo, transposition, stereo placement) with mido, and
rendering it with the FluidSynth command line and a General MIDI soundfont."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import mido

SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
              "/usr/share/sounds/sf2/TimGM6mb.sf2")
DRUM_CHANNEL = 9


class RenderError(Exception):
    """FluidSynth or the soundfont is missing, or a render failed."""


def find_soundfont(explicit: str | Path | None = None) -> Path:
    candidates = [explicit] if explicit else SOUNDFONTS
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    wanted = explicit or " or ".join(SOUNDFONTS)
    raise RenderError(f"no General MIDI soundfont found at {wanted}; install the Debian package "
                      "fluid-soundfont-gm (or pass --soundfont FILE)")


def find_fluidsynth() -> str:
    path = shutil.which("fluidsynth")
    if path is None:
        raise RenderError("the fluidsynth program is not installed; install the Debian package fluidsynth")
    return path


def vary_midi(source: Path, target: Path, programs: list[int], pans: list[int],
              tempo_factor: float, transpose: int, max_seconds: float | None = None) -> float:
    """Give every note-carrying track its own channel, program and pan; scale the tempo;
    transpose; cut after `max_seconds`. Returns the first tempo in beats per minute after
    scaling."""
    midi = mido.MidiFile(str(source))
    channels = [c for c in range(16) if c != DRUM_CHANNEL]
    part = 0
    first_bpm = None
    for track in midi.tracks:
        has_notes = any(m.type == "note_on" for m in track)
        channel = channels[part % len(channels)] if has_notes else None
        for message in track:
            if message.type == "set_tempo":
                message.tempo = max(1, round(message.tempo / tempo_factor))
                first_bpm = first_bpm or mido.tempo2bpm(message.tempo)
            elif message.is_meta:
                continue
            elif channel is not None and hasattr(message, "channel"):
                message.channel = channel
                if message.type in ("note_on", "note_off"):
                    message.note = min(127, max(0, message.note + transpose))
        if has_notes:
            # drop the file's own program changes, then set ours at the start
            kept = [m for m in track if m.type != "program_change"]
            track[:] = [mido.Message("program_change", channel=channel, program=programs[part % len(programs)]),
                        mido.Message("control_change", channel=channel, control=10, value=pans[part % len(pans)]),
                        *kept]
            part += 1
    if max_seconds is not None:
        midi = truncated(midi, max_seconds)
    midi.save(str(target))
    return first_bpm or 120.0 * tempo_factor


def truncated(midi: mido.MidiFile, max_seconds: float) -> mido.MidiFile:
    """One track holding the first `max_seconds` of `midi`, every note ended at the cut, so
    long pieces are not rendered in full only to be cropped."""
    ticks_per_second = 960  # at 120 bpm and 480 ticks per beat
    out = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500_000, time=0)])
    clock, pending = 0.0, 0.0
    for message in midi:  # merged tracks, delta times in seconds
        clock += message.time
        pending += message.time
        if clock > max_seconds:
            break
        if message.is_meta:
            continue
        track.append(message.copy(time=round(pending * ticks_per_second)))
        pending = 0.0
    for channel in range(16):  # all notes off
        track.append(mido.Message("control_change", channel=channel, control=123, value=0, time=0))
    out.tracks.append(track)
    return out


def render(midi_path: Path, wav_path: Path, soundfont: Path, sample_rate: int = 44_100,
           timeout: float = 300) -> None:
    """Render to a 16-bit stereo WAV with FluidSynth (reverb and chorus as the synth has them)."""
    command = [find_fluidsynth(), "-ni", "-q", "-g", "0.5", "-r", str(sample_rate),
               "-O", "s16", "-T", "wav", "-F", str(wav_path), str(soundfont), str(midi_path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RenderError(f"fluidsynth took longer than {timeout:.0f} s on {midi_path.name}") from None
    if done.returncode != 0 or not wav_path.is_file():
        raise RenderError(f"fluidsynth failed on {midi_path.name}: {done.stderr.strip()[-300:]}")


CHORDS = ((48, 52, 55), (45, 48, 52), (41, 45, 48), (43, 47, 50))  # C, Am, F, G


def write_groove(path: Path, bpm: float, bars: int = 8, beats_per_bar: int = 4, pickup: int = 0,
                 drums: bool = True, program: int = 0, chords: tuple[tuple[int, ...], ...] = CHORDS,
                 transpose: int = 0) -> float:
    """A MIDI file of a known tempo and downbeat: one chord a bar from `chords` (MIDI notes, root
    first, moved by `transpose` semitones; played by `program`), bass on the bar's first and
    middle beat, and with `drums` kick, snare and eighth-note hats; `pickup` beats of hats (or
    silence) before the first downbeat. Returns the first downbeat in seconds."""
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
    track.append(mido.MetaMessage("time_signature", numerator=beats_per_bar, denominator=4))
    track.append(mido.Message("program_change", channel=0, program=program))
    track.append(mido.Message("program_change", channel=1, program=33))
    beat = 480
    notes = []  # (tick, channel, note, velocity, length)
    if drums:
        notes += [(k * beat, DRUM_CHANNEL, 42, 70, 100) for k in range(pickup)]
    for bar in range(bars):
        start = (pickup + bar * beats_per_bar) * beat
        chord = tuple(n + transpose for n in chords[bar % len(chords)])
        notes += [(start, 0, n + 12, 70, beats_per_bar * beat - 10) for n in chord]
        notes += [(start + k * beat, 1, chord[0] - 12, 90 - 10 * (k > 0), 2 * beat - 60)
                  for k in range(0, beats_per_bar, 2)]
        if drums:
            notes += [(start + k * beat // 2, DRUM_CHANNEL, 42, 60, 100) for k in range(2 * beats_per_bar)]
            notes += [(start + k * beat, DRUM_CHANNEL, 36 if k % 2 == 0 else 38, 110, 100)
                      for k in range(beats_per_bar)]
    events = sorted([(t, mido.Message("note_on", channel=c, note=n, velocity=v)) for t, c, n, v, _ in notes] +
                    [(t + d, mido.Message("note_off", channel=c, note=n)) for t, c, n, _, d in notes],
                    key=lambda e: (e[0], e[1].type == "note_on"))
    now = 0
    for tick, message in events:
        track.append(message.copy(time=tick - now))
        now = tick
    midi.save(str(path))
    return pickup * 60.0 / bpm
