"""Training and evaluation at scale with Hugging Face Accelerate (docs/scale.md): a generated manifest trained
with 1 process and with 2 CPU processes (`accelerate launch --multi_gpu --num_processes 2`, gloo), measured on
the same held-out manifest; a 2-process sharded evaluation gives exactly the 1-process figures; the pieces of
mmdemo/parallel.py that split a batch."""
import json

import numpy as np
import pytest
import torch

from benchmarks.scale import command, run, shapes_manifest, train
from mmdemo import parallel

# Accuracy on the 60 held-out items, 2 processes vs 1 (docs/scale.md, 3 seeds measured): the mean over the four
# fusion variants moved by at most 0.017 (two seeds of 1 process: up to 0.07 apart); one variant by up to 0.067
# (two seeds: up to 0.117). One variant's accuracy is one noisy draw; their mean is the figure we hold to 0.05.
TOLERANCE = 0.05         # |Δ| of the mean accuracy over the fusion variants
PER_VARIANT = 0.10       # |Δ| of any one variant


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shapes")
    return shapes_manifest(folder, 20, seed=1, name="train"), shapes_manifest(folder, 20, seed=2, name="test")


def measure(folder, manifest) -> dict:
    from mmdemo.tasks.classify.byod import evaluate_manifest
    from mmdemo.tasks.classify.model import TriModalClassifier
    return evaluate_manifest(TriModalClassifier.from_checkpoint(folder, "gated", folder.name), manifest)


def test_two_processes_train_as_well_as_one(manifests, tmp_path):
    train_m, test_m = manifests
    one, two = tmp_path / "one", tmp_path / "two"
    train(train_m, one, 1, epochs=6)
    train(train_m, two, 2, epochs=6)
    a, b = measure(one, test_m), measure(two, test_m)
    assert a["n"] == b["n"] == 60
    assert a["accuracy"]["gated"] >= 0.6                      # it learned (chance 0.33; text names the shape 60%)
    gaps = [abs(a["accuracy"][kind] - b["accuracy"][kind]) for kind in a["accuracy"]]
    assert abs(np.mean(list(a["accuracy"].values())) - np.mean(list(b["accuracy"].values()))) <= TOLERANCE, (a, b)
    assert max(gaps) <= PER_VARIANT, (a["accuracy"], b["accuracy"])
    config = json.loads((two / "config.json").read_text())
    assert config["metrics"]["n_train"] == 48 and (two / "README.md").is_file()   # saved once, by the main process
    # sharded evaluation (each process measures its 30 items, the results are gathered) = one process's figures
    out, _ = run(command(2, "mmdemo.evaluate", "classify", "--classifier", str(one), "--manifest", str(test_m),
                         "--json"))
    sharded = json.loads(out.strip().splitlines()[-1])
    assert sharded["processes"] == 2 and sharded["n"] == 60
    assert sharded["accuracy"] == a["accuracy"] and sharded["unimodal_accuracy"] == a["unimodal_accuracy"]


def test_split_batch_slices_every_part_alike():
    rows, feats, y = np.arange(5), [torch.ones(5, 3), torch.zeros(5, 2)], torch.arange(5)
    parts = [parallel.split_batch((rows, feats, y, 7), k, 2) for k in range(2)]
    assert [p[0].tolist() for p in parts] == [[0, 1], [2, 3, 4]]
    assert [p[1][1].shape[0] for p in parts] == [2, 3] and parts[1][2].tolist() == [2, 3, 4]
    assert parts[0][3] == 7                                    # not a batch dimension: left whole
    shares = [share for k in range(2) for _, share in parallel.shard([rows], k, 2)]
    assert shares == [0.4, 0.6]                                # weights of the slices' gradients: sum to 1


def test_one_process_is_the_plain_loop():
    batch = {"x": torch.ones(4, 2), "rows": np.arange(4)}
    assert parallel.processes() == (0, 1) and parallel.is_main()
    assert list(parallel.shard([batch], 0, 1)) == [(batch, 1.0)]
    assert parallel.to_device(batch, torch.device("cpu"))["rows"] is batch["rows"]
