"""Write the VQA panel's scene examples to examples/vqa/scene-*.png: unseen composed test scenes
(scenes.build("test", 2000, seed=1)) with a question of each family written by the question programs
(mmdemo/tasks/vqa/scene_questions.py), so every example's answer is known. Prints the
(stem, question, answer) rows that go into panel.SCENE_EXAMPLES.

    python scripts/vqa_scene_examples.py
"""

import numpy as np
from PIL import Image

from mmdemo.datasets.scenes import build
from mmdemo.paths import ROOT
from mmdemo.tasks.vqa.scene_questions import related, sample_question, scene_objects, selected

OUT = ROOT / "examples" / "vqa"
WANTED = ["relate_color", "relate_noun", "count", "attr_pair", "more", "property", "prior_parity"]


def digit_left_of_triangle(data) -> tuple[int, str]:
    """The first test scene of 3+ objects where "what colour is the digit left of the triangle?" has one answer."""
    for i in range(len(data["images"])):
        objects = scene_objects(data, i)
        triangles = selected(objects, (None, None, "triangle"))
        if len(objects) >= 3 and len(triangles) == 1:
            left = related(objects, triangles[0], "left") or []
            digits = [j for j in left if j in selected(objects, (None, None, "digit"))]
            if len(digits) == 1 and len(left) >= 1:
                return i, objects[digits[0]]["color"]


def main():
    data, rng = build("test", 2000, 1), np.random.default_rng(3)
    i, answer = digit_left_of_triangle(data)
    Image.fromarray(data["images"][i]).save(OUT / "scene-two-hop.png")
    print(f'("scene-two-hop", "what colour is the digit left of the triangle?"),   # {answer}; test scene {i}')
    for n, kind in enumerate(WANTED):
        while True:
            i = int(rng.integers(len(data["images"])))
            objects = scene_objects(data, i)
            q = sample_question(rng, objects, kind) if len(objects) >= 3 else None
            if q is not None and (not kind.startswith("relate") or " the " in q.text.split(" of ")[-1]):
                break
        Image.fromarray(data["images"][i]).save(OUT / f"scene-{n}.png")
        print(f'("scene-{n}", "{q.text}"),   # {q.answer}; test scene {i}')


if __name__ == "__main__":
    main()
