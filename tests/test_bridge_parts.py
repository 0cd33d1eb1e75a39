"""The bridge's parts on their own: OSC parsing, the render store, the MIDI clock, the live ring
buffer and the MIDI mapping (with real mido messages)."""

import math
import threading
import time

import mido
import numpy as np
import pytest
import soundfile as sf

from bridge.addresses import OscError, parse
from bridge.clock import Clock
from bridge.live import Mixer, RingBuffer
from bridge.midi import Mapping, scale
from bridge.store import RenderStore
from engine.clip import Clip


def test_pure_data_floats_count_as_numbers_and_tags():
    call = parse("/diffusion/style", [3.0, "/a.wav", 1, "steps", 30.0, "prompt", "warm pad"])
    assert call.tag == "3" and call.args == {"input_path": "/a.wav", "strength": 1.0}
    assert call.keys == {"steps": 30, "prompt": "warm pad"} and isinstance(call.keys["steps"], int)


@pytest.mark.parametrize("values", [
    ["t"], ["t", "/a.wav"], ["t", "/a.wav", "0.4"], ["t", "/a.wav", True], ["t", 5, 0.4],
    ["t", "/a.wav", 0.4, "steps"], ["t", "/a.wav", 0.4, 7, 3], ["t", "/a.wav", 0.4, "seed", 1.5],
    ["t", "/a.wav", math.inf], ["t", "/a.wav", 0.4, ["nested"], 1], ["t", "", 0.4],
])
def test_wrong_arguments_name_the_usage(values):
    with pytest.raises(OscError) as err:
        parse("/diffusion/style", values)
    assert err.value.code == "bad_arguments" and err.value.tag == "t"


def test_status_and_ping_need_no_tag_and_reply_port_no_tag():
    assert parse("/diffusion/ping", []).tag == ""
    assert parse("/diffusion/reply_port", [9011]).args == {"port": 9011}
    assert parse("/diffusion/reply_port", ["x", 9011.0]).tag == "x"


def test_the_store_never_overwrites_and_keeps_the_format(tmp_path):
    store = RenderStore(tmp_path / "new folder")
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (3, 4800)).astype(np.float32)
    paths = [store.save(audio, 48_000, "style", "take 1/a?") for _ in range(3)]
    assert len(set(paths)) == 3 and all("_style_take-1-a" in p.name for p in paths)
    data, rate = sf.read(paths[2], dtype="float32")
    assert rate == 48_000 and np.array_equal(data.T, audio)
    assert sorted(p.name for p in paths[0].parent.iterdir()) == sorted(p.name for p in paths)  # no temporaries


def test_results_are_readable_as_the_umask_allows(tmp_path):
    import os
    import stat
    import subprocess
    import sys

    script = ("import numpy as np; from bridge.store import RenderStore; "
              f"print(RenderStore({str(tmp_path)!r}).save(np.zeros((1, 441), np.float32), 44100, 'style', 'u'))")
    for umask, mode in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              preexec_fn=lambda m=umask: os.umask(m))
        assert done.returncode == 0, done.stderr
        assert stat.S_IMODE(os.stat(done.stdout.strip()).st_mode) == mode


def test_the_store_races_itself_without_losing_a_file(tmp_path):
    store, audio, found = RenderStore(tmp_path), np.zeros((1, 441), np.float32) + 0.1, []
    threads = [threading.Thread(target=lambda: found.append(store.save(audio, 44_100, "generate", "x")))
               for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(set(found)) == 8 == len(list(tmp_path.glob("*.wav")))


def test_an_unwritable_folder_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(Exception, match="cannot write into"):
        RenderStore(tmp_path / "file" / "sub").save(np.zeros((1, 10), np.float32), 44_100, "style")


def test_midi_clock_gives_tempo_and_bar_lines():
    clock = Clock(beats_per_bar=4)
    assert clock.bpm(now=0.0) is None and clock.next_bar(now=0.0) is None
    tick = 60 / 128 / 24  # 128 bpm
    clock.on_message("start", now=0.0)
    for k in range(1, 24 * 4 + 5):
        clock.on_message("clock", now=k * tick)
    now = (24 * 4 + 4) * tick
    assert clock.bpm(now) == pytest.approx(128, rel=1e-6)
    assert clock.bar_seconds(now=now) == pytest.approx(4 * 60 / 128)
    assert clock.next_bar(now) == pytest.approx(2 * 4 * 60 / 128)  # the line after bar 2's start
    assert clock.bpm(now + 5) is None  # the clock stopped coming


def test_the_ring_buffer_keeps_the_latest_frames_across_the_wrap():
    ring = RingBuffer(2, 1000)
    signal = np.arange(2 * 2500, dtype=np.float32).reshape(2500, 2)  # [frames, channels]
    for start in range(0, 2500, 128):
        ring.write(signal[start:start + 128])
    assert np.array_equal(ring.latest(700), signal[-700:].T)
    assert ring.latest(5000).shape == (2, 1000)
    assert RingBuffer(1, 10).latest(5).shape == (1, 0)


def test_the_ring_is_read_whole_while_the_callback_writes_into_it():
    import threading

    ring = RingBuffer(1, 4096, margin=256)
    stop, torn = threading.Event(), []

    def write():
        frame = 0
        while not stop.is_set():
            ring.write((np.arange(frame, frame + 256) % 2**20).astype(np.float32)[:, None])  # its frame number
            frame += 256

    writer = threading.Thread(target=write)
    writer.start()
    reads, deadline = 0, time.monotonic() + 20
    try:
        while (reads < 2000 or ring.written < 200_000) and time.monotonic() < deadline:
            got = ring.latest(4000)[0]
            reads += 1
            if len(got) > 1 and not np.all(np.diff(got) % 2**20 == 1):
                torn.append(got)
    finally:
        stop.set()
        writer.join()
    assert not torn and reads >= 2000 and ring.written >= 200_000  # they really ran alongside


class Status:
    """What sounddevice hands the callback about the last block."""

    def __init__(self, underflow: bool = False, overflow: bool = False) -> None:
        self.output_underflow, self.input_underflow = underflow, False
        self.input_overflow, self.output_overflow = overflow, False


def test_the_stream_callback_allocates_no_array_and_reuses_its_buffers():
    import tracemalloc

    mixer = Mixer(2, 44_100, seconds=5.0)
    clip = mixer.play(np.full((2, 44_100), 0.25, np.float32))  # 1 s playing through every block
    indata, outdata = np.ones((256, 2), np.float32), np.empty((256, 2), np.float32)
    ring, status = mixer.ring.data, Status()
    for _ in range(10):  # warm
        mixer.callback(indata, outdata, 256, None, status)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for _ in range(100):
            mixer.callback(indata, outdata, 256, None, status)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    block = indata.nbytes  # 2 KiB: any copy of a block would show
    assert peak - before < block // 2 and current - before < 512
    assert mixer.ring.data is ring and clip.played == 110 * 256 and np.all(outdata == 0.25)


def test_the_mixer_plays_a_clip_where_it_was_scheduled_and_counts_what_went_wrong():
    mixer = Mixer(2, 1000, seconds=2.0)
    indata, outdata = np.zeros((100, 2), np.float32), np.zeros((100, 2), np.float32)
    mixer.callback(indata, outdata, 100, None, Status())  # frame 100 from here on
    clip = mixer.play(np.arange(2 * 150, dtype=np.float32).reshape(2, 150))
    out = []
    for k in range(3):
        mixer.callback(indata + k, outdata, 100, None, Status(underflow=k == 1, overflow=k == 2))
        out.append(outdata.copy())
    played = np.concatenate(out)
    assert np.array_equal(played[:150].T, clip.audio) and not played[150:].any()
    assert clip.done and clip.wait_started(0) and mixer.underruns == 1 and mixer.overruns == 1
    time.sleep(0.03)  # a late callback
    mixer.callback(indata, outdata, 100, None, Status())
    assert mixer.health()["callbacks"] == 5 and mixer.health()["longest_gap_ms"] >= 25
    assert np.array_equal(mixer.ring.latest(400)[0], np.repeat([0.0, 1.0, 2.0, 0.0], 100))
    assert mixer.clips == (clip,) and len(mixer.play(np.zeros((1, 10), np.float32)).audio[0]) == 10
    assert len(mixer.clips) == 1  # the finished clip left as the next one came


def test_a_mapping_round_trips_and_bad_ones_are_refused(tmp_path):
    mapping = Mapping(port="pads", channel=10, notes={60: "transform"}, controls={7: "steps"}, prompt='say "hi"')
    path = tmp_path / "map.toml"
    mapping.save(path)
    again = Mapping.load(path)
    assert (again.port, again.channel, again.notes, again.controls, again.prompt) == (
        "pads", 10, {60: "transform"}, {7: "steps"}, 'say "hi"')
    path.write_text('[notes]\n60 = "explode"\n')
    with pytest.raises(ValueError, match="explode"):
        Mapping.load(path)
    path.write_text("[notes\n")
    with pytest.raises(ValueError, match="TOML"):
        Mapping.load(path)
    assert scale("steps", 0) == 4 and scale("steps", 127) == 100 and scale("strength", 127) == 1.0


class Recorder:
    """Stands in for the bridge's job starter (what a MIDI message asks for is what is checked)."""

    def __init__(self):
        from bridge.clock import Clock

        self.clock, self.started = Clock(), []


def test_midi_notes_and_controls_follow_the_mapping_and_learn():
    from bridge.midi import MidiListener

    learned, reports = [], []
    listener = MidiListener(Recorder(), Mapping(), lambda *a: reports.append(a))
    listener.start = lambda action, tag, now: listener.bridge.started.append(action)
    listener.handle(mido.Message("control_change", control=20, value=127))
    listener.handle(mido.Message("control_change", control=22, value=0))
    assert listener.mapping.values["strength"] == 1.0 and listener.mapping.values["steps"] == 4
    listener.handle(mido.Message("note_on", note=36, velocity=100))
    listener.handle(mido.Message("note_on", note=36, velocity=100))  # a bounce: ignored
    listener.handle(mido.Message("note_on", note=37, velocity=0))    # a note-off: ignored
    assert listener.bridge.started == ["generate"]
    listener.learn("reroll", lambda kind, number: learned.append((kind, number)))
    listener.handle(mido.Message("note_on", note=50, velocity=1))
    assert learned == [("note", 50)] and listener.mapping.notes[50] == "reroll"
    listener.learn("guidance", lambda kind, number: learned.append((kind, number)))
    listener.handle(mido.Message("control_change", control=74, value=64))
    assert learned[-1] == ("control", 74) and listener.mapping.controls[74] == "guidance"


def test_an_empty_prompt_is_accepted_other_empty_text_is_not():
    assert parse("/diffusion/generate", ["t", 4.0, "prompt", ""]).keys == {"prompt": ""}
    with pytest.raises(OscError):
        parse("/diffusion/generate", ["t", 4.0, "sampler", ""])


class FakeEngine:
    """An engine client that accepts a job, reports half way, then returns a result or an error."""

    endpoint, timeout = "fake", 1.0

    def __init__(self, error: str | None = None):
        self.error = error

    def pinged(self, timeout):
        return True

    def submit(self, task, params, audio, give_up):
        from types import SimpleNamespace as Message

        yield Message(type="accepted", header={"job": "j1", "position": 1})
        yield Message(type="progress", header={"fraction": 0.5, "stage": "sampling"})
        if self.error:
            yield Message(type="error", header={"code": self.error, "message": "no good"})
        yield Message(type="result", header={"job": "j1", "renders": [{"seed": 3}], "compute_seconds": 0.1},
                      audio={"render_0": Clip(np.full((1, 4800), 0.1, np.float32), 48_000)})


def test_a_job_tells_its_steps_as_events_and_frees_its_tag_before_its_end():
    import tempfile

    from bridge.events import Accepted, Done, Failed, Progress
    from bridge.jobs import JobError, Jobs, Request

    with tempfile.TemporaryDirectory() as folder:
        for error in (None, "bad_parameter"):
            jobs, heard = Jobs(FakeEngine(error), RenderStore(folder)), []
            record = lambda event: heard.append((event, event.tag in jobs.active))  # noqa: E731
            try:
                jobs.run(Request("generate", {"seconds": 0.1}, tag="t"), record)
            except JobError as exc:
                assert exc.code == error
            steps = [event for event, _ in heard]
            assert steps[:2] == [Accepted("t", 1), Progress("t", 0.5, "sampling")]
            end, still_taken = heard[-1]
            assert not still_taken  # a client may reuse the tag the moment it hears the end
            if error:
                assert end == Failed("t", error, "no good")
            else:
                assert isinstance(end, Done) and end.seconds == pytest.approx(0.1) and sf.info(end.output_path).frames == 4800


def test_every_event_has_an_osc_reply_and_a_progress_line():
    from typing import get_args

    from bridge.events import Done, Event
    from bridge.osc import EVENT_REPLIES, reply_for
    from bridge.render import PROGRESS_LINES

    assert set(EVENT_REPLIES) == set(get_args(Event)) == set(PROGRESS_LINES)
    assert reply_for(Done("t", "/x.wav", 1.5)) == ("/diffusion/done", ["t", "/x.wav", 1.5])


def test_every_task_has_an_osc_address_taking_its_inputs_and_parameters():
    from bridge.addresses import KEYS, REQUESTS, inputs
    from engine.tasks import TASKS

    by_action = {address.action: address for address in REQUESTS.values()}
    for task in TASKS.values():
        names = {arg.name for arg in by_action[task.name].args} | set(KEYS)
        assert {i.path for i in inputs(task)} | {i.offset for i in inputs(task)} <= names, task.name
        assert all(p.key in names or p.kind is list for p in task.params), task.name


def test_the_stream_thread_asks_for_real_time_and_falls_back_with_a_message_where_refused():
    import os
    import resource
    import subprocess
    import sys

    from bridge.live import REALTIME_PRIORITY, realtime

    asked = {}
    thread = threading.Thread(target=lambda: asked.update(how=realtime(), policy=os.sched_getscheduler(0)))
    thread.start()
    thread.join()
    permitted = os.geteuid() == 0 or resource.getrlimit(resource.RLIMIT_RTPRIO)[0] >= REALTIME_PRIORITY
    assert asked["how"][0] == permitted and (asked["policy"] == os.SCHED_FIFO) == permitted
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # that thread only
    # without the right (root: CAP_SYS_NICE taken away; others: no rtprio limit): a message, not a failure
    refused = ["setpriv", "--bounding-set", "-sys_nice", "--inh-caps", "-sys_nice"] if os.geteuid() == 0 else \
        ["prlimit", "--rtprio=0"]
    run = subprocess.run([*refused, sys.executable, "-c", "from bridge.live import realtime; print(realtime())"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("(False, 'normal priority: real-time scheduling is not permitted"), run.stdout
