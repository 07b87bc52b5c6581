"""Where things are: checkpoints, data sets, caches, artifacts, examples. Each one is resolved here
and nowhere else, and each can be moved with an environment variable.

    paths.checkpoints()          $MMDEMO_CHECKPOINTS  or <repo>/checkpoints
    paths.cache("speech")        $MMDEMO_CACHE        or <repo>/.cache         (+ the sub-folder)
    paths.artifacts()            $MMDEMO_ARTIFACTS    or <repo>/artifacts      (benchmarks, screenshots)
    paths.examples("vqa")        <repo>/examples/vqa
    paths.dataset("mnist")       $MMDEMO_MNIST, then ../shared/data/mnist, then ~/.cache/mmdemo/data/mnist;
                                 absent everywhere: downloaded from its usual public source when the
                                 network is reachable, else an MMDemoError naming the variable.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import MMDemoError

ROOT = Path(__file__).resolve().parent.parent


def _env_or(variable: str, default: Path) -> Path:
    return Path(os.environ[variable]) if os.environ.get(variable) else default


def checkpoints(*parts: str) -> Path:
    return _env_or("MMDEMO_CHECKPOINTS", ROOT / "checkpoints").joinpath(*parts)


def cache(*parts: str) -> Path:
    return _env_or("MMDEMO_CACHE", ROOT / ".cache").joinpath(*parts)


def artifacts(*parts: str) -> Path:
    return _env_or("MMDEMO_ARTIFACTS", ROOT / "artifacts").joinpath(*parts)


def examples(*parts: str) -> Path:
    return ROOT.joinpath("examples", *parts)


# ---------------------------------------------------------------------------------------- data sets

@dataclass(frozen=True)
class Dataset:
    variable: str            # environment variable that points at the folder
    marker: str              # a file that proves the folder holds the data set
    urls: tuple[str, ...]    # its usual public source (files, or one zip)
    unpack_to: str = ""      # for a zip: sub-folder of the zip to keep as the data set's folder


MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"   # torchvision's mirror of the official files
DATASETS = {
    "mnist": Dataset("MMDEMO_MNIST", "MNIST/raw/t10k-labels-idx1-ubyte.gz",
                     tuple(MNIST_URL + f for f in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                                   "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"))),
    "fsdd": Dataset("MMDEMO_FSDD", "recordings/0_jackson_0.wav",
                    ("https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/heads/master.zip",),
                    unpack_to="free-spoken-digit-dataset-master"),
}


def dataset_candidates(name: str) -> list[Path]:
    """Where `name` may be, in order: its variable, ../shared/data/NAME beside the repo, the user cache."""
    spec = DATASETS[name]
    found = [Path(os.environ[spec.variable])] if os.environ.get(spec.variable) else []
    return found + [ROOT.parent / "shared" / "data" / name, user_data() / name]


def user_data() -> Path:
    return _env_or("MMDEMO_USER_DATA", Path.home() / ".cache" / "mmdemo" / "data")


def dataset(name: str, download: bool = True) -> Path:
    """The folder that holds data set `name` (see the module doc for the search order)."""
    spec = DATASETS[name]
    for folder in dataset_candidates(name):
        if (folder / spec.marker).is_file():
            return folder
    target = user_data() / name
    if download and reachable(spec.urls[0]):
        fetch(spec, target)
        if (target / spec.marker).is_file():
            return target
    raise MMDemoError(f"The {name} data set was not found (looked in {', '.join(map(str, dataset_candidates(name)))}) "
                      f"and cannot be downloaded here. Set {spec.variable} to a folder holding it "
                      f"(it must contain {spec.marker}).")


def reachable(url: str, timeout: float = 2.0) -> bool:
    """One HEAD request with a short timeout: is the data set's source reachable from here?"""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def fetch(spec: Dataset, target: Path) -> None:
    """Download a data set into `target` with a progress bar: plain files into the folder the marker
    names, or one zip unpacked (its `unpack_to` sub-folder becomes the target). Written to a temporary
    folder first and moved into place, so an interrupted download leaves nothing half-made."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        staging = Path(tmp) / "data"
        if spec.unpack_to:
            archive = Path(tmp) / "data.zip"
            download(spec.urls[0], archive)
            with zipfile.ZipFile(archive) as z:
                z.extractall(tmp)
            Path(tmp, spec.unpack_to).rename(staging)
        else:
            folder = staging / Path(spec.marker).parent
            folder.mkdir(parents=True)
            for url in spec.urls:
                download(url, folder / url.rsplit("/", 1)[1])
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)


def download(url: str, path: Path, chunk: int = 1 << 20) -> None:
    from tqdm.auto import tqdm
    with urllib.request.urlopen(url, timeout=30) as response, open(path, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=path.name) as bar:
            while block := response.read(chunk):
                out.write(block)
                bar.update(len(block))
