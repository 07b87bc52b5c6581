"""Every case of the bad-input corpus (tests/badinputs.py) through the Python API and through the
live app (gradio_client): the project's error with a clear message, or an answer; then the next
good request is answered and the server is still up."""
import re

import pytest

import mmdemo
from mmdemo import MMDemoError
from mmdemo.inputs import load_audio, load_image, load_text
from mmdemo.serve import endpoint_args

from badinputs import AUDIO_CASES, CASES, IMAGE_CASES, TASKS, TEXT_CASES, good_inputs

PAIRS = [pytest.param(task, case, id=f"{task.name}-{case.name}") for task in TASKS for case in CASES
         if case.applies_to(task)]
INPUT_LAYER = {"image": load_image, "text": load_text, "audio": load_audio}


def request(case, folder) -> dict:
    return {**good_inputs(folder), **case.make(folder)}


def has_notice(pattern: str, texts) -> bool:
    return any(re.search(pattern, str(t)) for t in texts)


@pytest.mark.parametrize("case", IMAGE_CASES + TEXT_CASES + AUDIO_CASES, ids=lambda c: c.name)
def test_input_layer(case, tmp_path):
    """mmdemo.inputs alone (what every task decodes with), whichever tasks are registered."""
    (modality, value), = case.make(tmp_path).items()
    decode = INPUT_LAYER[modality]
    if case.error:
        with pytest.raises(MMDemoError, match=case.error):
            decode(value)
        return
    if modality == "audio":
        notes = {}
        rate, samples = decode(value, notes=notes)
        assert samples.ndim == 1 and samples.size >= 0.1 * rate and abs(samples).max() <= 1
        assert has_notice(case.notice, notes.values()) if case.notice else not notes
    elif modality == "image":
        img = decode(value)
        assert img.mode == "RGB" and img.width >= 1 and img.height >= 1
    else:
        assert decode(value).strip()


@pytest.mark.parametrize("task, case", PAIRS)
def test_python_api(task, case, tmp_path):
    if task.name not in mmdemo.list_tasks():
        pytest.skip(f"no {task.name!r} task registered in this build")
    default = mmdemo.list_models(task.name)[0]
    if not mmdemo.registry.availability(task.name, default)[0]:
        pytest.skip(f"{task.name}'s default model {default!r} is a backend that is not downloaded here")
    model = mmdemo.load(task.name)
    inputs = {m: v for m, v in request(case, tmp_path).items() if m in task.uses}
    error = case.expected_error(task)
    if error:
        with pytest.raises(MMDemoError, match=error):
            model.predict(**inputs)
    else:
        pred = model.predict(**inputs)
        assert isinstance(pred.output, str) and pred.output
        if case.notice:
            assert has_notice(case.notice, pred.notes.values())
    good = model.predict(**{m: v for m, v in good_inputs(tmp_path).items() if m in task.uses})
    assert good.output


@pytest.fixture(scope="module")
def endpoints(client):
    return client.view_api(return_format="dict", print_info=False)["named_endpoints"]


@pytest.mark.parametrize("task, case", PAIRS)
def test_live_app(task, case, tmp_path, client, endpoints, live_app):
    if task.endpoint not in endpoints:
        pytest.skip(f"the app has no {task.endpoint} endpoint in this build")
    params = endpoints[task.endpoint]["parameters"]
    error = case.expected_error(task)
    if error:
        with pytest.raises(Exception, match=error):
            client.predict(*endpoint_args(params, request(case, tmp_path)), api_name=task.endpoint)
    else:
        outputs = client.predict(*endpoint_args(params, request(case, tmp_path)), api_name=task.endpoint)
        outputs = outputs if isinstance(outputs, (tuple, list)) else [outputs]
        first = outputs[0]["label"] if isinstance(outputs[0], dict) else outputs[0]   # a gr.Label gives a dict
        assert isinstance(first, str) and first
        if case.notice:
            assert has_notice(case.notice, outputs), "the trimming notice is not shown"
    good = client.predict(*endpoint_args(params, good_inputs(tmp_path)), api_name=task.endpoint)
    assert (good[0] if isinstance(good, (tuple, list)) else good)
    assert live_app.proc.poll() is None, "the server died"


def test_corpus_size():
    assert len(CASES) >= 40 and len({c.name for c in CASES}) == len(CASES)
