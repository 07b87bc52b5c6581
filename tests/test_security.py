"""Security gates: safetensors-only checkpoints with shapes checked, no pickle / remote code in the
code base, share link off by default, no file served from outside the app's own folders, uploads
deleted from the server after a while (MMDEMO_CACHE_SECONDS)."""
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import torch
from gradio_client import Client, handle_file
from safetensors.torch import save_file

from mmdemo import MMDemoError, checkpoint, serve
from mmdemo.tasks.vqa.model import VQANet

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "app.py", *(ROOT / "mmdemo").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py"),
           *(ROOT / "scripts").rglob("*.py")]


def small_net():
    return VQANet(n_answers=3, widths=(4, 4, 4), dim=8, n_attributes=2)


def test_pickled_checkpoint_is_refused(tmp_path):
    torch.save(small_net().state_dict(), tmp_path / "model.safetensors")    # a pickle under the right name
    with pytest.raises(MMDemoError, match="safetensors"):
        checkpoint.load_weights(tmp_path, small_net())


def test_checkpoint_shapes_are_checked(tmp_path):
    state = small_net().state_dict()
    state["head.2.weight"] = torch.zeros(5, 8)                   # 5 answers in the file, 3 in the model
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "model.safetensors"))
    with pytest.raises(MMDemoError, match=r"head\.2\.weight: \(5, 8\) in the file, \(3, 8\) in the model"):
        checkpoint.load_weights(tmp_path, small_net())


@pytest.mark.parametrize("pattern", [r"torch\.load\((?![^)]*weights_only=True)", r"import pickle|pickle\.loads?\(", r"trust_remote_code\s*=\s*True",
                                     r"share\s*=\s*True", r"allowed_paths"])
def test_no_unsafe_calls_in_the_code(pattern):
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in SOURCES
            for i, line in enumerate(p.read_text().splitlines(), 1) if re.search(pattern, line)]
    assert not hits, f"{pattern} found in {hits}"


def test_share_link_is_off_by_default(live_app, client):
    client.predict(None, "hi", None, api_name="/echo")
    out = live_app.output()
    assert "gradio.live" not in out and "public URL" not in out


@pytest.mark.parametrize("path", ["/etc/passwd", "/proc/self/environ", str(ROOT / "app.py"),
                                  str(ROOT / "checkpoints" / "vqa" / "model.safetensors"),
                                  "../../../../../../etc/passwd", str(ROOT / ".git")])
def test_no_file_outside_the_app_cache_is_served(app_url, path):
    for prefix in ("gradio_api/file=", "file=", "gradio_api/file/"):
        url = app_url + prefix + urllib.parse.quote(path)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = r.read()
            status = r.status
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        assert status in (403, 404), f"{url} answered {status}"
        assert b"root:" not in body and b"import" not in body


def test_uploads_are_deleted_after_the_request(tmp_path):
    """A second app with a 3 s cache lifetime: the uploaded image and the drawn overlay are gone
    from its cache folder within seconds of the answer (the default lifetime is 300 s, so a person
    can ask several questions about one upload)."""
    cache = tmp_path / "gradio-cache"
    upload = tmp_path / "probe.png"
    from PIL import Image
    img = Image.open(ROOT / "examples" / "vqa" / "0.png").convert("RGB")
    img.putpixel((0, 0), (250, 250, 250))
    img.save(upload)                                # bytes no example has
    with serve.running_app(env={"GRADIO_TEMP_DIR": str(cache), "MMDEMO_CACHE_SECONDS": "3"}) as app:
        client = Client(app.url, verbose=False)
        # os.walk skips a folder the app's sweeper removes while it is being listed (rglob raised there)
        files = lambda: {Path(root, n) for root, _, names in os.walk(cache) for n in names}   # noqa: E731
        examples = files()                          # the app's own example images, cached at start
        assert client.predict(handle_file(str(upload)), "what color is the shape?", api_name="/vqa")[0] == "red"
        assert files() - examples, "the request left nothing in the cache (upload and overlay expected)"
        deadline = time.time() + 30
        while files() - examples and time.time() < deadline:
            time.sleep(0.5)
        assert not files() - examples, f"still on the server after 30 s: {files() - examples}"
        assert files() == examples                 # the example images stay


@pytest.mark.parametrize("path", ["/etc/passwd", str(ROOT / "app.py")])
def test_a_server_path_in_a_request_is_not_read(app_url, path):
    """A hand-made request naming a server file instead of uploading one: Gradio refuses it before
    any of our code sees the path (the image input hands paths straight to load_image)."""
    import json
    body = json.dumps({"data": [{"path": path, "meta": {"_type": "gradio.FileData"}}, "what is it?",
                                "easyvqa-gated"]}).encode()
    call = urllib.request.Request(app_url + "gradio_api/call/vqa", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(call, timeout=10) as r:
        event_id = json.loads(r.read())["event_id"]
    with urllib.request.urlopen(app_url + f"gradio_api/call/vqa/{event_id}", timeout=60) as r:
        stream = r.read().decode()
    assert "event: error" in stream and "not uploaded by a user" in stream and "event: complete" not in stream
    assert "root:" not in stream and "not an image" not in stream, stream   # refused before load_image
