"""Holding up as a public service (issue 13), the short versions of benchmarks/attack.py:
inputs whose cost is bounded before decoding, one queue with a fair share per client, bounded
request bodies, no partial upload or stray file left behind, the smaller HTTP holes closed."""
import io
import json
import signal
import socket
import struct
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from mmdemo import MMDemoError, bounds, serve, server
from mmdemo.inputs import load_audio, load_image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from attack import files_in, partial_upload, queued_answer, raw, upload_file  # noqa: E402


# ---------------------------------------------------------------- bounded cost per input
def noise(rate, seconds=1.0, channels=1):
    return np.random.default_rng(0).standard_normal((int(rate * seconds), channels)) * 0.1


@pytest.mark.parametrize("rate", [8001, 4001, 44101, 96001])
def test_odd_sample_rates_reach_the_sinc_resampler_only_as_standard_rates(rate, monkeypatch):
    import torchaudio.functional as AF
    seen, real = [], AF.resample
    monkeypatch.setattr(AF, "resample", lambda x, a, b: seen.append((a, b)) or real(x, a, b))
    out_rate, samples = load_audio((rate, noise(rate)[:, 0]), target_rate=16000)
    assert out_rate == 16000 and abs(len(samples) - 16000) <= 16
    assert all(a in bounds.STANDARD_RATES and b in bounds.STANDARD_RATES for a, b in seen), seen


@pytest.mark.parametrize("rate, channels, message", [(48000, 12, "12 channels"), (384000, 1, "not supported")])
def test_audio_refused_from_its_header(tmp_path, rate, channels, message):
    path = tmp_path / "x.wav"
    sf.write(str(path), noise(rate, 0.2, channels), rate, subtype="PCM_16")
    with pytest.raises(MMDemoError, match=message):
        load_audio(str(path), target_rate=16000)
    with pytest.raises(MMDemoError, match="channels|not supported"):
        load_audio((rate, noise(rate, 0.2, channels)), target_rate=16000)


def test_many_channels_are_mixed_down_block_by_block(tmp_path, monkeypatch):
    path = tmp_path / "c8.flac"
    sf.write(str(path), np.zeros((192000 * 2, 8), np.int16), 192000, format="FLAC")
    sizes = []
    real_read = sf.SoundFile.read
    monkeypatch.setattr(sf.SoundFile, "read", lambda self, *a, **kw: sizes.append(kw.get("frames")) or real_read(self, *a, **kw))
    rate, samples = load_audio(str(path), target_rate=16000)
    assert rate == 16000 and samples.ndim == 1 and len(samples) == 32000
    assert max(sizes) <= bounds.AUDIO_BLOCK_FRAMES and len(sizes) > 1


def test_audio_decode_has_a_time_budget(tmp_path, monkeypatch):
    path = tmp_path / "long.wav"
    sf.write(str(path), noise(16000, 10), 16000, subtype="PCM_16")
    monkeypatch.setattr(bounds, "DECODE_SECONDS", 0.0)
    with pytest.raises(MMDemoError, match="took more than"):
        load_audio(str(path))


def test_an_unreadable_audio_file_is_named_without_its_server_path(tmp_path):
    path = tmp_path / "upload" / "not-audio.wav"
    path.parent.mkdir()
    path.write_text("not audio\n")
    with pytest.raises(MMDemoError, match="not-audio.wav") as refused:
        load_audio(str(path))
    assert str(tmp_path) not in str(refused.value)       # libsndfile's own message names the full path


def png_header(width, height, bit_depth, colour_type) -> bytes:
    """A PNG signature + IHDR + a tiny IDAT: what PIL reads before deciding to decode."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def test_decoded_image_bytes_are_bounded_from_the_header():
    with pytest.raises(MMDemoError, match="MB decoded"):
        load_image(png_header(8000, 5000, 8, 6))           # 40 MP RGBA: 160 MB decoded
    with pytest.raises(MMDemoError, match="damaged or truncated"):     # 40 MP RGB (120 MB) passes the check
        load_image(png_header(8000, 5000, 8, 2))                        # and reaches the decoder


def test_a_40mp_16bit_png_is_reduced_before_conversion():
    buf = io.BytesIO()
    Image.fromarray(np.full((5000, 8000), 40000, np.uint16)).save(buf, format="PNG", compress_level=1)
    img = load_image(buf.getvalue())
    assert img.mode == "RGB" and bounds.WORKING_SIDE // 2 < max(img.size) <= bounds.WORKING_SIDE
    assert abs(img.size[0] / img.size[1] - 8 / 5) < 0.01 and img.getpixel((0, 0))[0] == 255   # 40000 of 65535: the brightest


def test_large_jpeg_is_decoded_at_a_reduced_scale():
    buf = io.BytesIO()
    Image.new("RGB", (4000, 3000), "red").save(buf, format="JPEG")
    img = load_image(buf.getvalue())
    assert max(img.size) <= bounds.WORKING_SIDE and abs(img.size[0] / img.size[1] - 4 / 3) < 0.01


# ---------------------------------------------------------------- the HTTP surface (shared app)
def post_json(app_url, path, payload, **kw):
    port = int(app_url.rstrip("/").rsplit(":", 1)[1])
    return raw(port, "POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"}, **kw)


def test_direct_run_routes_are_closed(app_url):
    status, body = post_json(app_url, "/gradio_api/run/vqa", {"data": [None, "hi", "easyvqa-gated"]})
    assert status == 404 and b"join the queue" in body


@pytest.mark.parametrize("path, payload", [("/gradio_api/run/nope", {"data": []}), ("/gradio_api/call/nope", {"data": []}),
                                           ("/gradio_api/queue/join", {"data": [], "fn_index": 999, "session_hash": "x1"})])
def test_unknown_endpoint_is_404(app_url, path, payload):
    status, body = post_json(app_url, path, payload)
    assert status == 404, body


def test_malformed_range_header_is_a_client_error(live_app):
    status, body = raw(live_app.port, "GET", "/gradio_api/file=x.png", headers={"Range": "bytes=zz-"})
    assert status == 416 and b"Range" in body


def test_deep_links_are_off(live_app):
    assert raw(live_app.port, "GET", "/gradio_api/deep_link?session_hash=abc")[0] == 404
    status, body = raw(live_app.port, "GET", "/config?deep_link=abc")
    assert status == 200 and "deep_link_state" not in json.loads(body)


def test_a_too_large_body_is_refused_before_it_is_sent(live_app):
    """Only the headers are sent: the 413 can only come from the Content-Length check."""
    with socket.create_connection(("127.0.0.1", live_app.port), timeout=10) as s:
        s.sendall(f"POST /gradio_api/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                  f"Content-Length: {server.MAX_UPLOAD_BODY + 1}\r\n\r\n".encode())
        assert s.recv(200).startswith(b"HTTP/1.1 413")
    status, _ = post_json(live_app.url, "/gradio_api/queue/join", {"data": ["x" * server.MAX_OTHER_BODY]})
    assert status == 413


def test_one_client_cannot_fill_the_queue(live_app, tmp_path):
    """40 queued requests at once from 127.0.0.1 (never read: abandoned) each decoding a 16-bit
    picture: at most JOBS_PER_CLIENT accepted, the rest 429; a client at 127.0.0.2 is still answered;
    never more than app.CONCURRENCY model calls at once."""
    path = tmp_path / "slow.png"
    Image.fromarray(np.full((3000, 3000), 30000, np.uint16)).save(path, compress_level=1)
    payload = json.dumps({"data": [{"path": upload_file(live_app.port, path), "meta": {"_type": "gradio.FileData"}},
                                   "what color is the shape?", "easyvqa-gated"]}).encode()
    statuses = []
    flood = [threading.Thread(target=lambda: statuses.append(raw(live_app.port, "POST", "/gradio_api/call/vqa", payload,
                                                                 {"Content-Type": "application/json"})[0]))
             for _ in range(40)]
    for t in flood:
        t.start()
    for t in flood:
        t.join(60)
    status, stream = queued_answer(live_app.port, payload, source="127.0.0.2")
    assert status == 200 and "event: complete" in stream
    assert statuses.count(429) > 0 and statuses.count(200) <= server.JOBS_PER_CLIENT, statuses
    assert set(statuses) <= {200, 429}
    health = json.loads(raw(live_app.port, "GET", "/healthz")[1])
    from mmdemo.app import CONCURRENCY as concurrency
    assert 1 <= health["model_calls_peak"] <= concurrency, health
    deadline = time.time() + 60
    while json.loads(raw(live_app.port, "GET", "/healthz")[1])["queued"] and time.time() < deadline:
        time.sleep(0.2)                              # leave the shared app idle for the next tests


# ---------------------------------------------------------------- files (an app with its own upload folder)
@pytest.fixture(scope="module")
def own_app(tmp_path_factory):
    """An app with its own upload folder and temp folder, a 3 s file lifetime and a 2 s body idle timeout;
    a stray file from a 'previous run' is in its upload folder before it starts."""
    folder = tmp_path_factory.mktemp("service") / "gradio"
    (folder / "leftover").mkdir(parents=True)
    (folder / "leftover" / "partial-upload").write_bytes(b"\0" * 1000)
    (folder.parent / "tmp").mkdir()
    env = {"GRADIO_TEMP_DIR": str(folder), "TMPDIR": str(folder.parent / "tmp"), "MMDEMO_CACHE_SECONDS": "3",
           "MMDEMO_BODY_IDLE_SECONDS": "2"}
    time.sleep(3.5)                                   # the stray file is older than the lifetime
    app = serve.start_app(env=env)
    app.folder = folder
    yield app
    serve.stop_app(app)


def test_start_up_sweep_removes_files_of_a_previous_run(own_app):
    assert not (own_app.folder / "leftover").exists()


def test_aborted_uploads_leave_no_partial_file(own_app):
    examples = set(files_in(own_app.folder, set()))
    for i in range(20):
        partial_upload(own_app.port, 5 * 2**20, 2**20).close()
    time.sleep(1.5)
    assert files_in(own_app.folder, examples) == []


def wait_for(condition, seconds=20.0):
    """Poll until condition() holds (the machine may be busy); its last value."""
    deadline = time.time() + seconds
    while not condition() and time.time() < deadline:
        time.sleep(0.2)
    return condition()


def test_held_open_uploads_are_limited_per_client_and_dropped(own_app):
    def fds():
        return len(list(Path(f"/proc/{own_app.proc.pid}/fd").iterdir()))
    start, examples = fds(), set(files_in(own_app.folder, set()))
    held = [partial_upload(own_app.port, 5 * 2**20, 2**16) for _ in range(server.BODIES_PER_CLIENT)]
    trickling = threading.Event()
    trickling.set()

    def trickle():                                   # a byte every 0.5 s: no body times out while we count
        while trickling.is_set():
            for s in held:
                s.send(b"\0")
            time.sleep(0.5)
    threading.Thread(target=trickle, daemon=True).start()
    assert wait_for(lambda: fds() >= start + 2 * len(held))   # the server holds each socket and its partial file
    extra = partial_upload(own_app.port, 5 * 2**20, 2**16)
    assert extra.recv(200).startswith(b"HTTP/1.1 429")
    trickling.clear()
    answers = [s.recv(200) for s in held]             # after the 2 s body idle timeout (socket timeout 10 s)
    assert all(a.startswith(b"HTTP/1.1 400") for a in answers), answers[:2]
    for s in held + [extra]:
        s.close()
    assert wait_for(lambda: fds() <= start + 2) and files_in(own_app.folder, examples) == []


def test_sessions_without_a_heartbeat_are_dropped(own_app):
    """Every request a new session (as API users are): Gradio would keep each one's state (~0.4 MB)
    until 10,000 exist; here a session with no heartbeat connection goes CLOSED_SESSION_SECONDS after
    its last use."""
    from gradio_client import Client

    def sessions():
        return json.loads(raw(own_app.port, "GET", "/healthz")[1])["sessions"]
    client = Client(own_app.url, verbose=False)
    for _ in range(5):
        client.reset_session()
        assert client.predict(None, "hi", None, api_name="/echo") == "|hi|"
    assert sessions() >= 4
    time.sleep(server.CLOSED_SESSION_SECONDS + 5)      # + one session sweep (every 3 s with a 3 s cache lifetime)
    assert sessions() <= 1                             # at most the client's current one, if its heartbeat is open
    client.close()


def test_exported_explanations_are_served_from_the_cache_and_expire_with_it(own_app):
    """The export's JSON and PNG are written inside the upload folder (no copy of them elsewhere
    outlives the app: no file in the app's temp folder) and the sweep deletes them after the file lifetime."""
    from gradio_client import Client
    client = Client(own_app.url, verbose=False, download_files=False)
    params = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/explain_classify_export"]
    inputs = {"image": ROOT / "examples" / "classify" / "drawn_7.png", "text": "seven"}
    files = client.predict(*serve.endpoint_args(params["parameters"], inputs), api_name="/explain_classify_export")
    paths = [Path(f["path"]) for f in files]
    assert sorted(p.suffix for p in paths) == [".json", ".png"]
    assert all(own_app.folder.resolve() in p.resolve().parents for p in paths), paths
    assert wait_for(lambda: not paths[0].parent.exists())                   # the files and their folder
    assert [p for p in (own_app.folder.parent / "tmp").rglob("*") if p.is_file()] == []   # torch adds an empty folder
    client.close()


def test_sigterm_mid_traffic_leaves_no_request_file(own_app, tmp_path):
    """The last test of the module: SIGTERM while uploads are cut off and questions answered;
    then only the app's example copies (kept by design) remain."""
    from gradio_client import Client, handle_file
    examples = set(files_in(own_app.folder, set()))
    client, stop = Client(own_app.url, verbose=False), threading.Event()
    image = tmp_path / "noise.png"      # content no example has: its upload is a new file in the cache
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(image)

    def traffic():
        while not stop.is_set():
            try:
                partial_upload(own_app.port, 2**20, 2**16).close()
                client.predict(handle_file(str(image)), "is it red?", "easyvqa-gated", api_name="/vqa")
            except Exception:
                return                                 # the server went away
    threads = [threading.Thread(target=traffic, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60                   # a busy machine may take a while to answer the first one
    while not files_in(own_app.folder, examples) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert files_in(own_app.folder, examples), "the traffic left nothing to clean up"
    own_app.proc.send_signal(signal.SIGTERM)
    own_app.proc.wait(30)
    stop.set()
    assert files_in(own_app.folder, examples) == []
