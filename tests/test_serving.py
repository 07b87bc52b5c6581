"""Serving (issue 19): concurrent requests share a forward pass with the same answers as batch 1, a bad
input in a batch fails only its own request, caches stay bounded, heavy models still load on first use."""
import threading
import time

import numpy as np
import pytest

import mmdemo
from mmdemo import registry
from mmdemo.errors import MMDemoError
from mmdemo.nn.text import MiniLMEncoder
from mmdemo.paths import ROOT
from mmdemo.runtime import BoundedCache
from mmdemo.ui.components import Batcher

IMAGES = sorted((ROOT / "examples" / "vqa").glob("*.png"))
QUESTIONS = ["what color is the shape?", "what is the shape?", "is there a circle?", "does the image contain red?"]


def test_vqa_batch_gives_the_same_answers_as_batch_1(one_torch_thread):
    model = mmdemo.load("vqa")
    requests = [dict(image=str(im), text=q) for im, q in zip(IMAGES, QUESTIONS)]
    batched = model.predict_batch(requests)
    for r, b in zip(requests, batched):
        single = model.predict(**r)
        assert b.output == single.output and list(b.scores) == list(single.scores)
        np.testing.assert_allclose(list(b.scores.values()), list(single.scores.values()), atol=1e-5)
        np.testing.assert_allclose(b.attention["image"], single.attention["image"], atol=1e-5)
        np.testing.assert_allclose(b.attention["text"], single.attention["text"], atol=1e-5)
        assert b.tokens == single.tokens and b.fusion_weights == pytest.approx(single.fusion_weights, abs=1e-5)


def test_a_bad_input_in_a_batch_fails_only_its_own_request(one_torch_thread, tmp_path):
    model = mmdemo.load("vqa")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    requests = [dict(image=str(IMAGES[0]), text=QUESTIONS[0]), dict(image=str(broken), text=QUESTIONS[1]),
                dict(image=str(IMAGES[1]), text=None), dict(image=str(IMAGES[2]), text=QUESTIONS[2])]
    out = model.predict_batch(requests)
    assert out[0].output == model.predict(**requests[0]).output
    assert out[3].output == model.predict(**requests[3]).output
    for bad, r in ((out[1], requests[1]), (out[2], requests[2])):
        assert isinstance(bad, MMDemoError)
        with pytest.raises(MMDemoError) as single:
            model.predict(**r)
        assert str(bad) == str(single.value)          # the same clear message as alone


class SlowModel:
    """A model whose batches take a while, so concurrent requests pile up and are batched."""

    def __init__(self):
        self.batches = []

    def predict_batch(self, requests):
        self.batches.append(len(requests))
        time.sleep(0.2)
        return [MMDemoError(f"bad {r['x']}") if r["x"] < 0 else r["x"] * 10 for r in requests]


def test_batcher_shares_a_pass_between_concurrent_requests_and_keeps_errors_apart():
    model = SlowModel()
    batcher, results = Batcher(model), {}

    def ask(x):
        try:
            results[x] = batcher(x=x)
        except MMDemoError as e:
            results[x] = str(e)
    first = threading.Thread(target=ask, args=(1,))
    first.start()
    time.sleep(0.05)                                   # the first request is in the model now
    others = [threading.Thread(target=ask, args=(x,)) for x in (2, -3, 4, 5)]
    for t in others:
        t.start()
    for t in [first, *others]:
        t.join(10)
    assert results == {1: 10, 2: 20, -3: "bad -3", 4: 40, 5: 50}
    assert model.batches[0] == 1 and max(model.batches) > 1 and sum(model.batches) == 5


def test_batcher_gives_every_request_an_error_that_is_not_one_inputs_fault():
    class Broken:
        def predict_batch(self, requests):
            raise RuntimeError("out of memory")
    with pytest.raises(RuntimeError):
        Batcher(Broken())(x=1)


def test_bounded_cache_keeps_the_most_recently_used():
    cache = BoundedCache(3)
    for k in "abcd":
        cache.put(k, k.upper())
    cache.get("b")
    cache.put("e", "E")
    assert len(cache) == 3 and cache.get("a") is None and cache.get("c") is None
    assert cache.get("b") == "B" and cache.get("e") == "E" and BoundedCache(0).get("x") is None


def test_minilm_cache_is_bounded_and_gives_the_uncached_states(one_torch_thread):
    encoder = MiniLMEncoder.shared()
    saved, encoder.cache = encoder.cache, BoundedCache(2)
    try:
        texts = ["what is the shape?", "is it red?", "what color is the shape?", "is it red?"]
        states, mask, pieces = encoder.encode(texts)
        assert len(encoder.cache) == 2
        for i, text in enumerate(texts):
            alone, alone_mask, alone_pieces = encoder.encode_uncached([text])[0]
            n = len(alone)
            np.testing.assert_allclose(states[i, :n].numpy(), alone.numpy(), atol=1e-5)
            assert mask[i, :n].tolist() == alone_mask.tolist() and not mask[i, n:].any()
            assert pieces[i] == list(alone_pieces)
    finally:
        encoder.cache = saved


def test_a_cold_model_is_built_on_its_first_request_only(monkeypatch):
    for table in ("_FACTORIES", "_DEFAULTS", "_LOADED", "_COLD"):    # this test's registrations stay here
        monkeypatch.setattr(registry, table, type(getattr(registry, table))(getattr(registry, table)))
    built = []

    @registry.register("serving-test-task", "cold", warm=False)
    def cold():
        built.append(1)
        return object()
    assert not registry.warm("serving-test-task", "cold") and built == []
    first = registry.load("serving-test-task", "cold")
    assert built == [1] and registry.load("serving-test-task", "cold") is first


def test_warm_up_builds_the_first_tab_first_and_waits_while_requests_run(monkeypatch):
    from mmdemo.app import warm_up
    built, idle_checks = [], []
    monkeypatch.setattr(registry, "load", lambda task, name=None: built.append(task))

    def idle():                       # busy for the first three checks, then idle
        idle_checks.append(len(built))
        return len(idle_checks) > 3
    warm_up(idle)
    assert built[0] == "vqa" and len(built) > 1
    assert idle_checks[:4] == [1, 1, 1, 1]          # nothing else was built while a request ran


def test_an_output_picture_travels_inline_and_comes_back_the_same():
    """components.picture: the panel's picture becomes an <img> with a JPEG data URI (no file), which
    inline_jpeg reads back; None stays None; text is refused, so nothing typed can become HTML there."""
    from PIL import Image

    from mmdemo.ui.components import inline_jpeg, picture
    component = picture(label='a "map" <b>', height=100)
    rng = np.random.default_rng(0)
    drawn = np.kron(rng.integers(0, 256, (8, 12, 3)), np.ones((8, 8, 1))).astype(np.uint8)   # 64x96 blocks
    value = component.postprocess(drawn)
    assert value.startswith('<img src="data:image/jpeg;base64,') and "max-height:100px" in value
    assert "<b>" not in value and "&lt;b&gt;" in value                        # the label is escaped in alt
    back = inline_jpeg(value)
    luma = lambda im: np.asarray(im.convert("L"), dtype=float)                # JPEG keeps luma at full resolution
    assert back.size == (96, 64) and np.abs(luma(back) - luma(Image.fromarray(drawn))).mean() < 3
    assert component.postprocess(None) is None and inline_jpeg(None) is None
    with pytest.raises(TypeError):
        component.postprocess('<img src=x onerror="alert(1)">')


def test_the_app_runs_torch_on_one_thread_per_request_and_all_cores_where_asked():
    """runtime.serve_one_thread_per_request: worker threads start at one torch thread; all_cores() gives a
    thread the machine's count back for one call and restores it."""
    import torch
    from mmdemo import runtime
    before = torch.get_num_threads()
    try:
        runtime.serve_one_thread_per_request()
        seen = {}

        def worker():
            seen["request"] = torch.get_num_threads()
            with runtime.all_cores():
                seen["inside"] = torch.get_num_threads()
            seen["after"] = torch.get_num_threads()
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert seen == {"request": 1, "inside": before, "after": 1}
    finally:
        runtime.SERVING_THREADS["machine"] = None
        torch.set_num_threads(before)


@pytest.mark.parametrize("skip", [True, False])
def test_the_app_imports_gradio_without_writing_type_stubs(tmp_path, skip):
    """app.skip_gradio_stub_files (cold start): with it, defining a component class writes no .pyi next to
    its module and the component still works; without it Gradio writes one (so the test can see it)."""
    import subprocess
    import sys
    (tmp_path / "boxes.py").write_text("import gradio as gr\n\n\nclass Box(gr.Textbox):\n    pass\n")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from mmdemo.app import skip_gradio_stub_files\n"
            f"if {skip}: skip_gradio_stub_files()\n"
            "import boxes; assert boxes.Box(value='seven').postprocess('seven') == 'seven'")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=120)
    assert (tmp_path / "boxes.pyi").exists() is not skip
