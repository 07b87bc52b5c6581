"""End to end: app.py in a subprocess on a free port, called through gradio_client."""
import os
import socket
import subprocess
import sys
import time

import pytest
from gradio_client import Client, handle_file

from conftest import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    port = free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail("app.py exited:\n" + proc.stdout.read())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("app.py did not start within 120 s")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def test_vqa_endpoint_answers_and_explains(client, example_image):
    answer, top5, heatmap, words, fusion, heat_note, words_note, fusion_note = client.predict(
        handle_file(str(example_image)), "what is the red shape?", "easyvqa-gated", api_name="/vqa")
    assert answer == "triangle"
    assert top5["label"] == "triangle" and len(top5["confidences"]) == 5
    assert os.path.getsize(heatmap) > 0                                   # the attention overlay
    tokens = [t["token"] if isinstance(t, dict) else t[0] for t in words]
    assert [t.strip() for t in tokens] == ["what", "is", "the", "red", "shape", "?"]
    rows = fusion["value"]["data"] if "value" in fusion else fusion["data"]
    assert len(rows) == 2 and abs(sum(r[1] for r in rows) - 1) < 1e-3
    assert "attention" in heat_note.lower() and "gate" in fusion_note.lower()


def test_bad_input_gives_a_message_and_the_app_keeps_serving(client, example_image):
    with pytest.raises(Exception, match="empty"):
        client.predict(handle_file(str(example_image)), "   ", "easyvqa-gated", api_name="/vqa")
    with pytest.raises(Exception, match="No image"):
        client.predict(None, "what color is the shape?", "easyvqa-gated", api_name="/vqa")
    answer = client.predict(handle_file(str(example_image)), "what color is the shape?", "easyvqa-gated",
                            api_name="/vqa")[0]
    assert answer == "red"
