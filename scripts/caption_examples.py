"""Write the caption panel's examples to examples/caption/: composed scenes from the test pieces
(one with a held-out colour-noun pair) and two MNIST test digits as MNIST ships them (28x28 grey).

    python scripts/caption_examples.py
"""

import numpy as np
from PIL import Image

from mmdemo.datasets.mnist import load_mnist
from mmdemo.datasets.scenes import Pieces, caption_words, sample_scene
from mmdemo.paths import ROOT

OUT = ROOT / "examples" / "caption"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    pieces, rng = Pieces("test"), np.random.default_rng(7)
    wanted = {2: "scene-two-objects", 3: "scene-three-objects", 4: "scene-four-objects"}
    while wanted:                                   # one scene of each object count
        image, objects = sample_scene(rng, pieces)
        if len(objects) in wanted:
            name = wanted.pop(len(objects))
            Image.fromarray(image).save(OUT / f"{name}.png")
            print(name, " ".join(caption_words(objects)[0]))
    image, objects = sample_scene(rng, pieces, with_heldout=True)
    Image.fromarray(image).save(OUT / "scene-heldout-pair.png")
    print("scene-heldout-pair", " ".join(caption_words(objects)[0]))
    digits, labels = load_mnist("test")
    for i in (0, 1):                                # MNIST test digits 0 and 1: a seven and a two
        Image.fromarray(digits[i]).save(OUT / f"mnist-test-{i}.png")
        print(f"mnist-test-{i}", labels[i])


if __name__ == "__main__":
    main()
