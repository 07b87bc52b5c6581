"""Readers of the real data the built-in models learn from: mnist.py, easyvqa.py, fsdd.py (real speech),
spoken_digits.py (FSDD + synthetic voices + augmentation), scenes.py (scenes composed of MNIST digits
and easy-VQA shapes). Where the data lives: mmdemo/paths.py."""
