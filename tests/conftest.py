import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# One temp folder for everything the session writes (pytest's tmp_path, the apps it starts, Chromium, torchrun),
# removed when the session ends. Left in /tmp they add up: gradio_client 2.7 leaves an empty /tmp/<40 hex> folder
# for every file it downloads (about 400 a run), torchrun a torchelastic_* folder.
SESSION_TMP = Path(tempfile.mkdtemp(prefix="mmdemo-tests-"))
os.environ["TMPDIR"] = tempfile.tempdir = str(SESSION_TMP)

ROOT = Path(__file__).resolve().parent.parent

import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "data(*names): the test reads these data sets (mmdemo.paths.DATASETS); "
                                       "skipped when one is absent, failed instead where MMDEMO_REQUIRE_DATA=1 (CI)")


def pytest_unconfigure(config):
    shutil.rmtree(SESSION_TMP, ignore_errors=True)


def pytest_runtest_setup(item):
    from mmdemo import MMDemoError, paths
    for mark in item.iter_markers("data"):
        for name in mark.args:
            try:
                paths.dataset(name)
            except MMDemoError as e:
                if os.environ.get("MMDEMO_REQUIRE_DATA"):
                    pytest.fail(f"MMDEMO_REQUIRE_DATA is set and a data set is missing: {e}")
                pytest.skip(str(e))


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tests: on this shared 2-core machine two threads wait on each other
    (3-7x slower for the big offline models)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def vqa_model():
    import mmdemo
    return mmdemo.load("vqa")


@pytest.fixture(scope="session")
def example_image() -> Path:
    return ROOT / "examples" / "vqa" / "0.png"    # easy-VQA test image 0: a red triangle


@pytest.fixture(scope="session")
def live_app():
    """app.py in a subprocess on a free port (mmdemo.serve), shared by every end-to-end test of the session."""
    from mmdemo import serve
    try:
        app = serve.start_app()
    except RuntimeError as e:
        pytest.fail(str(e))
    yield app
    serve.stop_app(app)


@pytest.fixture(scope="session")
def app_url(live_app):
    return live_app.url


@pytest.fixture(scope="session")
def client(app_url):
    from gradio_client import Client
    return Client(app_url, verbose=False)
