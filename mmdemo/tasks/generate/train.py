"""Train the generators of checkpoints/generate (see model.py) and the separate evaluation CNN.

    python -m mmdemo.train generate --threads 1        # from scratch; features cached in .cache/generate/

Stages: (0) frozen features of the tri-modal classifier for MNIST images, typed phrasings and spoken
digits (FSDD train + synthetic voices, half of them augmented); (1) the evaluation CNN on MNIST
alone; (2) the VAE on label-matched (image, text, speech) tuples; (3) PCA of its posterior means (the
sliders); (4) the conditional GAN on MNIST images with the classifier's image probabilities as condition.
Both generators are also trained against the frozen tri-modal classifier's image branch (image_guide: it
must read their samples as the intended digit); the evaluation CNN is never a training signal.
"""
from __future__ import annotations

import os
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ... import parallel, paths
from ...checkpoint import Trained
from ...nn.fit import fit
from ..classify.data import digit_texts
from ..classify.model import TriModalClassifier, encode_all
from ..classify.train import random_affine
from .data import speech_target
from .model import LATENT, N_SLIDERS, NOISE, GenerateNet, expert_input_image, kl_to_prior, speech_nll, truncated_noise

N_IMAGES, N_TEXTS = 20000, 20000
TEXT_SEED = 2024              # phrasings unseen by the classifier (it trained on seeds 0 and 101, evaluates on 1)
FEATURES_VERSION = 2


VAE_OPTIONS = {"speech_weight": 0.25, "digit_weight": 10.0, "cross_image_weight": 1.0, "guide_weight": 30.0,
               "kl_weight": 0.5, "guide_augment": True}
GAN_OPTIONS = {"mixed": 0.67, "guide_weight": 1.0}


def add_arguments(ap) -> None:
    ap.add_argument("--vae-epochs", type=int, default=10)
    ap.add_argument("--gan-epochs", type=int, default=5)
    ap.add_argument("--eval-epochs", type=int, default=2, help="epochs of the evaluation CNN")
    ap.add_argument("--speech-weight", type=float, default=VAE_OPTIONS["speech_weight"],
                    help="weight of the speech reconstruction in the VAE loss")
    ap.add_argument("--digit-weight", type=float, default=VAE_OPTIONS["digit_weight"],
                    help="weight of the latent digit classifier's loss (nats per tuple)")
    ap.add_argument("--cross-image-weight", type=float, default=VAE_OPTIONS["cross_image_weight"],
                    help="weight of the image reconstruction from the text-only and speech-only posteriors")
    ap.add_argument("--mixed", type=float, default=GAN_OPTIONS["mixed"],
                    help="share of GAN conditions taken from a typed or spoken digit of the same label")
    ap.add_argument("--guide-weight", type=float, default=VAE_OPTIONS["guide_weight"],
                    help="VAE: weight of the frozen classifier image branch's digit loss on the decoded samples")
    ap.add_argument("--kl-weight", type=float, default=VAE_OPTIONS["kl_weight"], help="VAE: weight of the KL term")
    ap.add_argument("--gan-guide-weight", type=float, default=GAN_OPTIONS["guide_weight"],
                    help="GAN: weight of the frozen classifier image branch's digit loss on the fakes")


def machine() -> str:
    """CPU model, torch threads and the load average now (timings here are noisy: a shared machine)."""
    names = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")] \
        if platform.system() == "Linux" else []
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return f"{names[0] if names else platform.machine()}, {torch.get_num_threads()} torch threads, load average {load}"


def classifier():
    return TriModalClassifier.from_checkpoint(paths.checkpoints("classify"), "gated", "digits-gated")


def build_features(seed: int = 0) -> dict:
    """Frozen classifier features + decoder targets of every modality (cached in .cache/generate/)."""
    path = paths.cache("generate", f"features_v{FEATURES_VERSION}_seed{seed}.safetensors")
    if path.is_file():
        return load_file(str(path))
    from ...datasets.mnist import load_mnist
    from ...datasets.spoken_digits import augment, digit_clips
    net, rng = classifier().net, np.random.default_rng(seed)
    images, y_img = load_mnist("train")
    rows = rng.permutation(len(images))[:N_IMAGES]
    pixels = images[rows].astype(np.float32) / 255.0
    f_img, logits_img = encode_all(net, "image", pixels[:, None])
    texts, y_txt = digit_texts(N_TEXTS, seed=TEXT_SEED)
    f_txt, _ = encode_all(net, "text", texts)
    waves, y_aud = digit_clips("train", seed=seed)     # FSDD train split + synthetic voices
    heard = [augment(w, rng) if rng.random() < 0.5 else w for w in waves]   # half as a microphone hears them
    f_aud = encode_by_length(net, heard)
    out = {"pixels": torch.from_numpy(pixels), "image": f_img, "image_probs": logits_img.softmax(-1),
           "y_image": torch.from_numpy(y_img[rows]), "text": f_txt, "y_text": torch.from_numpy(y_txt),
           "audio": f_aud, "y_audio": torch.from_numpy(y_aud),
           "mel": torch.from_numpy(np.stack([speech_target(w) for w in waves])).half()}   # the clean clip's log-mel
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in out.items()}, str(path))   # safetensors: a cache is never unpickled
    return out


def image_guide(augment: bool = False, seed: int = 0):
    """The frozen tri-modal classifier's image branch (checkpoints/classify: image encoder + its unimodal head)
    as a differentiable function of 28x28 images in 0..1 -> digit logits; a training signal for both
    generators (the GAN's condition comes from this classifier; the evaluation CNN is never used)."""
    net = classifier().net.eval().to(parallel.train_device())
    for p in net.parameters():
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(seed)

    def logits(images):
        x = images[:, None]
        if augment:   # a small random affine per image: the digit must be read from any such view
            x = random_affine(x, gen)
        return net.heads["image"](net.encode("image", x)[0])
    return logits


def encode_by_length(net, waves: list) -> torch.Tensor:
    """encode_all on the clips sorted by length, back in their order: a batch is padded to its longest
    clip and the padding is masked out of the pooling, so sorting only saves work (36 % of it here;
    same features to 1e-6)."""
    order = np.argsort([len(w) for w in waves], kind="stable")
    f_sorted, _ = encode_all(net, "audio", [waves[i] for i in order])
    features = torch.empty_like(f_sorted)
    features[torch.from_numpy(order)] = f_sorted
    return features


def train_evaluator(evaluator: nn.Module, epochs: int, seed: int) -> float:
    """The evaluation CNN on all 60,000 MNIST training images (small random affine); returns test accuracy."""
    from ...datasets.mnist import load_mnist
    images, labels = load_mnist("train")
    x_all, y_all = torch.from_numpy(images.astype(np.float32) / 255.0), torch.from_numpy(labels)
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)

    def batches(epoch):
        order = rng.permutation(len(y_all))
        for s in range(0, len(order), 128):
            yield order[s:s + 128]

    def loss(rows):
        where = parallel.train_device()
        x, y = random_affine(x_all[rows][:, None], gen)[:, 0].to(where), y_all[rows].to(where)
        logits = evaluator(x)[1]
        return F.cross_entropy(logits, y), {"acc": float((logits.argmax(1) == y).float().mean())}

    fit(evaluator, batches, loss, steps_per_epoch=int(np.ceil(len(y_all) / 128)), epochs=epochs, lr=3e-3,
        name="evaluation CNN")
    test_x, test_y = load_mnist("test")
    with torch.no_grad():
        pred = evaluator(torch.from_numpy(test_x.astype(np.float32) / 255.0))[1].argmax(1).numpy()
    return float((pred == test_y).mean())


def label_matched(feats: dict, rng: np.random.Generator, n: int):
    """Random tuples (image i, a text and a clip of the same digit), as index arrays."""
    by_label = {m: [np.flatnonzero(feats[f"y_{m}"].numpy() == d) for d in range(10)] for m in ("text", "audio")}
    rows = rng.permutation(len(feats["y_image"]))[:n]
    labels = feats["y_image"].numpy()[rows]
    text = np.array([rng.choice(by_label["text"][d]) for d in labels])
    audio = np.array([rng.choice(by_label["audio"][d]) for d in labels])
    return rows, text, audio


SUBSETS = [("image", "text", "audio"), ("image",), ("text",), ("audio",)]


def vae_loss(vae, feats: dict, rows, text, audio, speech_weight: float = 1.0, digit_head=None,
             digit_weight: float = 0.0, cross_image_weight: float = 1.0, guide=None,
             guide_weight: float = 0.0, kl_weight: float = 1.0) -> tuple[torch.Tensor, dict]:
    """Subsampled ELBO (Wu & Goodman 2018) over the joint posterior and each single-modality posterior,
    each asked to reconstruct the tuple's image and speech (cross-modal reconstruction), KL to the prior.
    To decode each tuple once, the batch is cut into len(SUBSETS) parts, one subset each."""
    pixels, mel = feats["pixels"][rows], feats["mel"][audio].float()
    inputs = {"image": expert_input_image(feats["image"][rows], pixels), "text": feats["text"][text],
              "audio": feats["audio"][audio]}
    parts = np.array_split(np.arange(len(rows)), len(SUBSETS))
    mus, logvars = zip(*[vae.posterior({m: inputs[m][p] for m in subset})[:2] for subset, p in zip(SUBSETS, parts)])
    mu, logvar = torch.cat(mus), torch.cat(logvars)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    image_logits = vae.image_decoder(z)
    rec_image = F.binary_cross_entropy_with_logits(image_logits, pixels, reduction="none").sum((1, 2))
    rec_speech, kl = speech_nll(vae.speech_decoder(z), mel), kl_to_prior(mu, logvar)
    stats, rec_image_, rec_speech_, kl_ = {}, rec_image.detach(), rec_speech.detach(), kl.detach()
    for subset, p in zip(SUBSETS, parts):
        name = "+".join(m[0] for m in subset)
        stats[f"{name} img"], stats[f"{name} mel"], stats[f"{name} kl"] = (
            float(rec_image_[p].mean()), float(rec_speech_[p].mean()), float(kl_[p].mean()))
    if cross_image_weight != 1.0:   # a text or a voice says nothing of the style: their image term is lighter
        unimodal = torch.from_numpy(np.isin(np.arange(len(rows)), np.concatenate(
            [p for subset, p in zip(SUBSETS, parts) if subset in (("text",), ("audio",))]))).to(rec_image.device)
        rec_image = torch.where(unimodal, cross_image_weight * rec_image, rec_image)
    total = (rec_image + speech_weight * rec_speech + kl_weight * kl).mean()
    if digit_weight:
        digit = F.cross_entropy(digit_head(z), feats["y_image"][rows])
        stats["digit"], total = digit.item(), total + digit_weight * digit
    if guide_weight:
        guided = F.cross_entropy(guide(torch.sigmoid(image_logits)), feats["y_image"][rows])
        stats["guide"], total = guided.item(), total + guide_weight * guided
    return total, stats


def train_vae(vae, feats: dict, epochs: int, seed: int, batch: int = 128, speech_weight: float = 1.0,
              lr: float = 2e-3, digit_weight: float = 0.0, cross_image_weight: float = 1.0,
              guide_weight: float = 0.0, kl_weight: float = 1.0, guide_augment: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    digit_head = nn.Linear(LATENT, 10).to(parallel.train_device())   # training only, not shipped
    parallel.same_start(digit_head)
    n = len(feats["y_image"])

    def batches(epoch):
        rows, text, audio = label_matched(feats, rng, n)
        for s in range(0, n, batch):
            yield rows[s:s + batch], text[s:s + batch], audio[s:s + batch]

    batch, on_device = int(batch), parallel.to_device(feats, parallel.train_device())   # a copy where the VAE trains
    guide = image_guide(guide_augment, seed) if guide_weight else None
    return fit(vae, batches, lambda b: vae_loss(vae, on_device, *b, speech_weight=speech_weight, digit_head=digit_head,
                                                digit_weight=digit_weight, cross_image_weight=cross_image_weight,
                                                guide=guide, guide_weight=guide_weight, kl_weight=kl_weight),
               steps_per_epoch=int(np.ceil(n / batch)), epochs=epochs, lr=lr, name="VAE",
               params=list(vae.parameters()) + list(digit_head.parameters()))


@torch.no_grad()
def set_latent_directions(vae, feats: dict, seed: int, n: int = 5000) -> list[float]:
    """PCA of the joint posterior means of n training tuples -> the sliders' directions; returns the
    share of the variance each direction explains."""
    rows, text, audio = label_matched(feats, np.random.default_rng(seed + 7), n)
    mu = vae.posterior({"image": expert_input_image(feats["image"][rows], feats["pixels"][rows]),
                        "text": feats["text"][text], "audio": feats["audio"][audio]})[0]
    centre = mu.mean(0)
    _, s, v = torch.linalg.svd(mu - centre, full_matrices=False)
    vae.pca_mean.copy_(centre)
    vae.pca_directions.copy_(v[:N_SLIDERS])
    vae.pca_std.copy_(s[:N_SLIDERS] / np.sqrt(n - 1))
    return (s[:N_SLIDERS] ** 2 / (s ** 2).sum()).tolist()


@torch.no_grad()
def mixed_conditions(feats: dict, rng: np.random.Generator, share: float) -> torch.Tensor:
    """Each MNIST image's condition: its own class probabilities, or (with probability `share`) the
    classifier's probabilities for a typed or spoken digit of the same label - the conditions the GAN
    meets at run time."""
    from .model import condition_batch
    net = classifier()
    probs = {m: condition_batch(net, {m: feats[m]})[0] for m in ("text", "audio")}
    rows, text, audio = label_matched(feats, rng, len(feats["y_image"]))
    cond = feats["image_probs"].clone()
    pick = rng.random(len(rows))
    use_text, use_audio = pick < share / 2, (pick >= share / 2) & (pick < share)
    cond[rows[use_text]] = probs["text"][text[use_text]]
    cond[rows[use_audio]] = probs["audio"][audio[use_audio]]
    return cond


class ProjectionDiscriminator(nn.Module):
    """28x28 image + class probabilities -> realness (projection discriminator, Miyato & Koyama 2018) and
    digit logits (the auxiliary head of AC-GAN, Odena et al. 2017); spectral-normalised convolutions."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.conv = nn.Sequential(spectral_norm(nn.Conv2d(1, width, 4, 2, 1)), nn.LeakyReLU(0.2),
                                  spectral_norm(nn.Conv2d(width, 2 * width, 4, 2, 1)), nn.LeakyReLU(0.2), nn.Flatten())
        self.out = spectral_norm(nn.Linear(2 * width * 49, 1))
        self.embed = nn.Linear(10, 2 * width * 49, bias=False)
        self.digit = nn.Linear(2 * width * 49, 10)

    def forward(self, x, condition):
        h = self.conv(x[:, None] * 2 - 1)
        return self.out(h)[:, 0] + (self.embed(condition) * h).sum(1) / h.shape[1] ** 0.5, self.digit(h)


def train_gan(generator, feats: dict, epochs: int, seed: int, batch: int = 64, aux_weight: float = 1.0,
              mixed: float = 0.0, lr: float = 4e-4, guide_weight: float = 0.0) -> dict:
    """Hinge-loss conditional GAN with an auxiliary digit loss (AC-GAN): the discriminator also names the
    digit of real images (their label) and the generator is asked to make images it names as the
    condition's digit; with guide_weight, the frozen tri-modal classifier's image branch (where the
    condition comes from) must also read the fakes as the condition's digit. fit() steps the generator; the discriminator's step (its own Adam) is taken inside
    the loss callback before each generator step."""
    torch.manual_seed(seed)
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    where = parallel.train_device()
    disc = ProjectionDiscriminator().to(where)
    parallel.same_start(disc)
    d_opt = torch.optim.Adam(disc.parameters(), lr=4e-4, betas=(0.5, 0.999))
    real_all, cond_all, y_all = (feats[k].to(where) for k in ("pixels", "image_probs", "y_image"))
    n, batch = len(real_all), int(batch)
    if mixed:
        cond_all = mixed_conditions(feats, rng, mixed).to(where)
    guide = image_guide() if guide_weight else None

    def batches(epoch):
        order = rng.permutation(n)
        for s in range(0, n - batch + 1, batch):
            yield order[s:s + batch]

    def loss(rows):
        real, cond, y = real_all[rows], cond_all[rows], y_all[rows]
        fake = generator(truncated_noise(len(rows), 1.0, gen, NOISE).to(where), cond)
        (real_score, real_digit), (fake_score, _) = disc(real, cond), disc(fake.detach(), cond)
        d_loss = F.relu(1 - real_score).mean() + F.relu(1 + fake_score).mean() + F.cross_entropy(real_digit, y)
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        parallel.average_gradients(list(disc.parameters()))   # N processes: one discriminator, like the generator
        d_opt.step()
        score, digit = disc(fake, cond)
        aux = F.cross_entropy(digit, cond.argmax(1))
        total, stats = -score.mean() + aux_weight * aux, {"d": d_loss.item(), "aux": aux.item()}
        if guide_weight:
            guided = F.cross_entropy(guide(fake), cond.argmax(1))
            total, stats["guide"] = total + guide_weight * guided, guided.item()
        return total, stats

    return fit(generator, batches, loss, steps_per_epoch=n // batch, epochs=epochs, lr=lr, weight_decay=0.0,
               warmup=0.05, name="GAN")


def train(epochs: int | None = None, seed: int = 0, vae_epochs: int = 10, gan_epochs: int = 5,
          eval_epochs: int = 2, speech_weight: float = VAE_OPTIONS["speech_weight"],
          digit_weight: float = VAE_OPTIONS["digit_weight"],
          cross_image_weight: float = VAE_OPTIONS["cross_image_weight"],
          mixed: float = GAN_OPTIONS["mixed"], guide_weight: float = VAE_OPTIONS["guide_weight"],
          kl_weight: float = VAE_OPTIONS["kl_weight"], gan_guide_weight: float = GAN_OPTIONS["guide_weight"]) -> Trained:
    from .evaluate import measure
    from .model import DigitGenerator
    t_start, timings = time.perf_counter(), {}

    def lap(stage, t0):
        timings[stage] = round(time.perf_counter() - t0, 1)
        return time.perf_counter()

    torch.manual_seed(seed)
    net, t0 = GenerateNet(), time.perf_counter()
    feats = build_features(seed)
    t0 = lap("features", t0)
    eval_acc = train_evaluator(net.evaluator, eval_epochs, seed)
    t0 = lap("evaluation CNN", t0)
    vae_options = {"speech_weight": speech_weight, "digit_weight": digit_weight,
                   "cross_image_weight": cross_image_weight, "guide_weight": guide_weight, "kl_weight": kl_weight,
                   "guide_augment": VAE_OPTIONS["guide_augment"]}
    gan_options = {"mixed": mixed, "guide_weight": gan_guide_weight}
    vae_stats = train_vae(net.vae, feats, epochs or vae_epochs, seed, **vae_options)
    variance = set_latent_directions(net.vae, feats, seed)
    t0 = lap("VAE", t0)
    gan_stats = train_gan(net.generator, feats, gan_epochs, seed, **gan_options)
    lap("GAN", t0)
    seconds = time.perf_counter() - t_start
    config = {"task": "generate", "latent": LATENT, "noise": NOISE,
              "training": {"seed": seed, "vae_epochs": epochs or vae_epochs, "gan_epochs": gan_epochs,
                           "eval_epochs": eval_epochs, "vae_options": vae_options, "gan_options": gan_options,
                           "images": N_IMAGES, "texts": N_TEXTS,
                           "audio_clips": int(len(feats["y_audio"])), "seconds": round(seconds, 1),
                           "seconds_per_stage": timings, "slider_variance_share": [round(v, 4) for v in variance],
                           "machine": machine(),
                           "last_epoch": {"vae": {k: round(v, 2) for k, v in vae_stats.items()},
                                          "gan": {k: round(v, 4) for k, v in gan_stats.items()}}},
              "evaluation_cnn_mnist_test_accuracy": eval_acc}
    print(f"{seconds:.0f} s of training ({timings})")
    config["metrics"] = measure(DigitGenerator(net.eval(), config, classifier(), "digits"))
    from .evaluate import card
    return Trained(net, config, card(config))
