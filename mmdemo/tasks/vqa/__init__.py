"""Visual question answering: a CNN region grid, a frozen MiniLM question, question-guided spatial
attention and a gate between image and question evidence (model.py); trained on easy-VQA (train.py),
measured on its official test split and held-out paraphrases (evaluate.py); the app's tab (panel.py).
A second model answers questions over composed multi-object scenes with multi-hop attention
(scene_questions.py: the question programs; scene_model.py, scene_train.py, scene_evaluate.py)."""
from . import model, scene_model  # noqa: F401  (registers the models)

TITLE, ORDER = "Visual question answering", 10
