"""Measure the generators with the separately trained evaluation CNN and the project's audio classifier.

    python -m mmdemo.evaluate generate --json [--limit N] [--samples 4] [--temperature 1.0]

Sources (one modality per query): drawn = MNIST official test images (first 500), typed = 500 phrasings
unseen in training (seed 4242), spoken = the FSDD official test split (250 clips). For each query, the
VAE and the GAN each make `samples` images at `temperature`.
- conditional accuracy: share of the samples the evaluation CNN reads as the query's digit;
- diversity: mean pairwise Euclidean distance of the evaluation CNN's 128-d features between the
  samples of one query (reference: groups of MNIST test images of one digit);
- FID-on-eval-classifier-features: Frechet distance (scipy.linalg.sqrtm) between the Gaussians of the
  evaluation CNN's features of all samples and of the 10,000 MNIST test images (not Inception FID;
  reference: as many MNIST training images);
- speech accuracy: the VAE's log-mel from the joint posterior mean, Griffin-Lim, then the audio head of
  the tri-modal classifier (checkpoints/classify) - the share recognised as the query's digit.
- scenes (`--scenes N`, default 500; 0 skips): the captions of the first N unseen test scenes of the
  captioner's data (datasets.scenes.build("test", 2000, seed 1)) and of N/2 scenes with a held-out
  colour-noun pair, each composed (scenes.py, seed = its index) and read back by the captioner: the
  share read back exactly, the mean share of words in agreement, the share that could not be laid out.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import linalg

from ...datasets.fsdd import fsdd_clips
from ...datasets.mnist import load_mnist
from ..classify.data import digit_texts
from ..classify.model import encode_all
from .data import speech_from_target
from .model import LATENT, NOISE, condition_batch, expert_input_image, truncated_noise

SOURCES = {"image": "drawn", "text": "typed", "audio": "spoken"}
N_SCENES = 500
EVAL_TEXT_SEED = 4242


def add_arguments(ap) -> None:
    ap.add_argument("--samples", type=int, default=4, help="images per query and model")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--speech-limit", type=int, default=100, help="queries per source for the speech check")
    ap.add_argument("--scenes", type=int, default=N_SCENES, help="captions composed into scenes and read back (0: none)")


def evaluate(model, limit=None, samples: int = 4, temperature: float = 1.0, speech_limit: int = 100,
             scenes: int = N_SCENES) -> dict:
    return measure(model, limit, samples, temperature, speech_limit, scenes=scenes if limit is None else min(scenes, limit))


def scene_figures(model, n: int) -> dict:
    """Captions of unseen test scenes (and of scenes with a held-out colour-noun pair) -> composed -> read back."""
    from ...datasets.scenes import build, decode
    from ...errors import MMDemoError
    out = {}
    for split, count in (("test", n), ("heldout", n // 2)):
        captions = [" ".join(decode(t)) for t in build(split, 2000 if split == "test" else 1000, 1)["tokens"][:count]]
        exact, words, failed = [], [], 0
        for i, caption in enumerate(captions):
            try:
                e = model.scene(caption, seed=i).extras
            except MMDemoError:
                failed += 1
                continue
            exact.append(e.read_back == e.asked)
            words.append(e.word_agreement)
        out[f"scene read back exactly ({split})"] = float(np.mean(exact)) if exact else 0.0
        out[f"scene words in agreement ({split})"] = float(np.mean(words)) if words else 0.0
        out[f"scene not laid out ({split})"] = failed / max(len(captions), 1)
        out[f"scenes ({split})"] = len(captions)
    return out


def queries(limit: int | None) -> dict:
    """source modality -> (data, labels)."""
    n = 500 if limit is None else min(limit, 500)
    images, y_img = load_mnist("test")
    texts, y_txt = digit_texts(n, seed=EVAL_TEXT_SEED)
    waves, y_aud, _ = fsdd_clips(None, "test")
    n_audio = len(waves) if limit is None else min(limit, len(waves))
    return {"image": (images[:n].astype(np.float32) / 255.0, y_img[:n]), "text": (texts, y_txt),
            "audio": (waves[:n_audio], y_aud[:n_audio])}


@torch.no_grad()
def source_features(model, modality: str, data) -> torch.Tensor:
    pooled = encode_all(model.classifier.net, modality, data[:, None] if modality == "image" else data)[0]
    return expert_input_image(pooled, torch.from_numpy(data)) if modality == "image" else pooled


@torch.no_grad()
def generate_batch(model, modality: str, feats: torch.Tensor, samples: int, temperature: float, seed: int = 0):
    """-> VAE images, GAN images (each (B * samples, 28, 28)), VAE joint posterior means (B, L)."""
    gen = torch.Generator().manual_seed(seed)
    vae, b = model.net.vae, len(feats)
    mu, logvar, _ = vae.posterior({modality: feats})
    z = (mu + temperature * torch.exp(0.5 * logvar) * torch.randn(samples, b, LATENT, generator=gen))
    vae_images = torch.sigmoid(vae.image_decoder(z.transpose(0, 1).reshape(-1, LATENT)))
    probs = condition_batch(model.classifier, {modality: feats})[0].repeat_interleave(samples, 0)
    gan_images = model.net.generator(truncated_noise(b * samples, temperature, gen, NOISE), probs)
    return vae_images, gan_images, mu


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 sqrt(S_a S_b)) of the two feature sets' Gaussians."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(s_a @ s_b)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * np.real(root)))


def within_diversity(features: torch.Tensor, samples: int) -> float:
    """Mean pairwise distance between the samples of each query (rows grouped by `samples`)."""
    groups = features.view(-1, samples, features.shape[-1])
    d = torch.cdist(groups, groups)
    return float(d.sum() / (len(groups) * samples * (samples - 1)))


@torch.no_grad()
def speech_accuracy(model, mu: torch.Tensor, labels: np.ndarray, chunk: int = 16) -> float:
    """The VAE's speech from each posterior mean, heard by the classifier's audio head."""
    waves = []
    for s in range(0, len(mu), chunk):
        waves += list(speech_from_target(model.net.vae.speech_decoder(mu[s:s + chunk])))
    logits = encode_all(model.classifier.net, "audio", waves)[1]
    return float((logits.argmax(1).numpy() == labels).mean())


@torch.no_grad()
def reference_figures(model, test_features: torch.Tensor, test_labels: np.ndarray, n: int, samples: int) -> dict:
    """What real digits score: FID of n MNIST training images, diversity of same-digit groups of test images."""
    train_x, _ = load_mnist("train")
    rows = np.random.default_rng(0).permutation(len(train_x))[:n]
    real = model.net.evaluator(torch.from_numpy(train_x[rows].astype(np.float32) / 255.0))[0].numpy()
    order = np.argsort(test_labels, kind="stable")
    groups = np.concatenate([order[test_labels[order] == d][: (np.sum(test_labels == d) // samples) * samples]
                             for d in range(10)])
    return {"mnist_train FID": frechet_distance(real, test_features.numpy()),
            "mnist_test diversity": within_diversity(test_features[groups], samples)}


@torch.no_grad()
def measure(model, limit: int | None = None, samples: int = 4, temperature: float = 1.0,
            speech_limit: int = 100, scenes: int = N_SCENES) -> dict:
    evaluator = model.net.evaluator
    test_x, test_y = load_mnist("test")
    test_features, test_logits = evaluator(torch.from_numpy(test_x.astype(np.float32) / 255.0))
    metrics = {"evaluation_cnn mnist_test accuracy": float((test_logits.argmax(1).numpy() == test_y).mean()),
               "samples per query": samples, "temperature": temperature}
    collected = {"vae": [], "gan": []}
    for modality, (data, labels) in queries(limit).items():
        feats = source_features(model, modality, data)
        vae_images, gan_images, mu = generate_batch(model, modality, feats, samples, temperature)
        wanted = torch.from_numpy(np.repeat(labels, samples))
        for name, images in (("vae", vae_images), ("gan", gan_images)):
            f, logits = evaluator(images)
            metrics[f"{name} accuracy from {SOURCES[modality]}"] = float((logits.argmax(1) == wanted).float().mean())
            metrics[f"{name} diversity from {SOURCES[modality]}"] = within_diversity(f, samples)
            collected[name].append(f)
        k = min(speech_limit, len(labels))
        if k:
            metrics[f"speech accuracy from {SOURCES[modality]}"] = speech_accuracy(model, mu[:k], labels[:k])
    for name, feats in collected.items():
        f = torch.cat(feats)
        metrics[f"{name} accuracy"] = float(np.mean([metrics[f"{name} accuracy from {s}"] for s in SOURCES.values()]))
        metrics[f"{name} diversity"] = within_diversity(f, samples)
        metrics[f"{name} FID"] = frechet_distance(f.numpy(), test_features.numpy())
        metrics[f"{name} images"] = len(f)
    if speech_limit:
        metrics["speech accuracy"] = float(np.mean([metrics[f"speech accuracy from {s}"] for s in SOURCES.values()]))
    metrics.update(reference_figures(model, test_features, test_y, len(torch.cat(collected["vae"])), samples))
    if scenes:
        metrics.update(scene_figures(model, scenes))
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}


def report(metrics: dict) -> str:
    rows = ["| | VAE | GAN |", "|---|---|---|"]
    for s in SOURCES.values():
        rows.append(f"| accuracy from {s} | {metrics[f'vae accuracy from {s}']:.4f} | "
                    f"{metrics[f'gan accuracy from {s}']:.4f} |")
    rows.append(f"| diversity (within query; MNIST test same digit {metrics['mnist_test diversity']:.3f}) | "
                f"{metrics['vae diversity']:.3f} | {metrics['gan diversity']:.3f} |")
    rows.append(f"| FID-on-eval-classifier-features (MNIST train {metrics['mnist_train FID']:.3f}) | "
                f"{metrics['vae FID']:.3f} | {metrics['gan FID']:.3f} |")
    rows.append(f"\nSamples per query {metrics['samples per query']}, temperature {metrics['temperature']}.")
    if "speech accuracy" in metrics:
        speech = ", ".join(f"{s} {metrics[f'speech accuracy from {s}']:.4f}" for s in SOURCES.values())
        rows.append(f"Generated speech recognised by the classifier's audio head: {metrics['speech accuracy']:.4f} "
                    f"({speech}).")
    if "scenes (test)" in metrics:
        rows.append("Scenes composed from captions, read back by the captioner: " + "; ".join(
            f"{split} captions ({metrics[f'scenes ({split})']}): exact {metrics[f'scene read back exactly ({split})']:.4f}, "
            f"words {metrics[f'scene words in agreement ({split})']:.4f}, not laid out "
            f"{metrics[f'scene not laid out ({split})']:.4f}" for split in ("test", "heldout")) + ".")
    return "\n".join(rows)


def card(config: dict) -> str:
    """The model card (checkpoints/generate/README.md) with the measured figures."""
    m, t = config["metrics"], config["training"]
    vo, go = t.get("vae_options", {}), t.get("gan_options", {})
    return f"""# digits — cross-modal digit generators of mmdemo (multimodal VAE + conditional DCGAN)

From a drawn, typed or spoken digit (any subset) to 28x28 digit images and to a spoken digit.
Inputs are read by the frozen encoders of the tri-modal classifier (`checkpoints/classify`).

- **Multimodal VAE**, product of experts with a prior expert (Wu & Goodman 2018): experts for image
  (classifier's pooled vector + pixels), text and speech give Gaussians over a {config['latent']}-d latent; the
  joint posterior of any subset is their product with N(0, I). Fusion weights = each expert's precision
  share per latent dimension, averaged over the dimensions. Decoders: 28x28 image (Bernoulli; linear ->
  7x7x64, transposed convolution, a 3x3 convolution, transposed convolution) and a 64-band x 64-frame
  (16 ms hop, ~1 s) log-mel at 16 kHz (Gaussian, sigma 0.3; a two-layer MLP), made audible with
  torchaudio's InverseMelScale + GriffinLim. Trained with the subsampled ELBO (joint + each single
  modality), every subset's posterior reconstructing the tuple's image and speech, on label-matched
  tuples (the data sets share only the digit), with: the speech term weighted {vo.get('speech_weight', 1)},
  the image term of the text-only and speech-only posteriors weighted {vo.get('cross_image_weight', 1)} (they cannot know the
  style), the KL term weighted {vo.get('kl_weight', 1)}, a linear digit classifier on the sampled latent (weight
  {vo.get('digit_weight', 0)}, training only, not shipped) that keeps the digits apart in the latent, and a guidance
  loss (weight {vo.get('guide_weight', 0)}{', on a small random affine view' if vo.get('guide_augment') else ''}): the frozen tri-modal
  classifier's image branch (checkpoints/classify; not the evaluation CNN) must read each decoded sample
  as the tuple's digit. {t['vae_epochs']} epochs. Sliders: the first 4 principal directions of the
  training posterior means (variance shares {t['slider_variance_share']}).
- **Conditional GAN** (DCGAN-style generator, {config['noise']}-d noise, transposed convolutions; hinge loss,
  spectral-normalised projection discriminator with an auxiliary digit head (AC-GAN, Odena et al. 2017),
  used in training only and not shipped; {t['gan_epochs']} epochs of 20,000 MNIST images; the frozen tri-modal
  classifier's image branch, where the condition comes from, must also read each fake as the condition's
  digit, weight {go.get('guide_weight', 0)}; not the evaluation CNN). Condition: the
  tri-modal classifier's class probabilities (its gated fusion of the given modalities) through a
  learned linear embedding; in training {go.get('mixed', 0):.0%} of the conditions are the classifier's probabilities
  for a typed or spoken digit of the image's label (what the GAN meets at run time), the rest the
  image's own. Temperature scales noise truncated at 2 sd.
- **Evaluation CNN** (also in this file, `evaluator.*`): a small MNIST CNN trained separately
  ({t['eval_epochs']} epochs) only to read generated digits; MNIST test accuracy
  {config['evaluation_cnn_mnist_test_accuracy']:.4f}. Never used by the generators.

## Data and licences
MNIST (Yann LeCun, Corinna Cortes, Christopher J.C. Burges; CC BY-SA 3.0): {t['images']} training images.
Free Spoken Digit Dataset (Zohar Jackson and contributors; CC BY-SA 4.0): official train split, plus
synthetic voices (espeak-ng, flite, festival), {t['audio_clips']} clips, half of them through the microphone
augmentation (the speech decoder's target is always the clean clip).
Typed digits: {t['texts']} generated phrasings. Frozen encoders: checkpoints/classify (MNIST, FSDD,
the speech_embedding CNN by Google, Apache-2.0). Scenes from captions (`predict(text=..., model="scene")`,
not in this file): shapes cut from easy-VQA test images at run time (Victor Zhou, MIT licence; pip
package `easy-vqa`), digits drawn by this GAN, read back by checkpoints/caption.

## Measured (`python -m mmdemo.evaluate generate`)
{report(m)}

Training (`python -m mmdemo.train generate --threads 1`): {t['seconds']} s ({t['seconds_per_stage']}),
{t['machine']}.
"""
