"""End to end: app.py in a subprocess (the session fixture `client` in conftest.py), called through gradio_client."""

import pytest
from gradio_client import handle_file
from mmdemo.ui.components import inline_jpeg


def test_vqa_endpoint_answers_and_explains(client, example_image):
    answer, top5, heatmap, words, fusion, heat_note, words_note, fusion_note = client.predict(
        handle_file(str(example_image)), "what is the red shape?", "easyvqa-gated", api_name="/vqa")
    assert answer == "triangle"
    assert top5["label"] == "triangle" and len(top5["confidences"]) == 5
    assert inline_jpeg(heatmap).size == (256, 256)                        # the attention overlay, inline
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
