"""Cross-modal generation of digits: a multimodal VAE (image + text + speech in; image + speech out)
and a conditional DCGAN (any modality in; image out), side by side.

Inputs are read by the frozen encoders of the tri-modal classifier (checkpoints/classify): their pooled
vectors (image 64-d, text 96-d, audio 128-d) feed small trained heads, so training takes minutes.

VAE (Wu & Goodman 2018, product of experts): each given modality's expert head gives a Gaussian
q_m(z | x_m) = N(mu_m, var_m); the joint posterior is the product of those experts and the prior
expert N(0, I): precision T = 1 + sum_m 1/var_m, mean = (sum_m mu_m / var_m) / T. Any subset of the
modalities therefore has a posterior (none given = the prior). The FUSION WEIGHTS are each expert's
precision share, (1/var_m) / T, per latent dimension, averaged over the dimensions (the prior's share
is shown too): how much each modality pins down the joint latent. Decoders: a 28x28 image (Bernoulli)
and a 64-band x 64-frame log-mel of the spoken digit (Gaussian, an MLP), made audible with Griffin-Lim.

GAN (DCGAN-style, small): the generator maps noise + a condition to a 28x28 image; the condition is the
tri-modal classifier's class-probability vector (its gated fusion of the given modalities) through a
learned linear embedding. The discriminator (training only, not shipped) is a projection discriminator.

An evaluation CNN, trained separately on MNIST and never part of the generators, reads the samples.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ... import checkpoint, paths
from ...errors import MMDemoError
from ...inputs import load_audio, load_text
from ...nn.audio import SAMPLE_RATE, mel_batch
from ...nn.text import encode_chars
from ...prediction import Prediction
from ...registry import register
from ..classify.data import mnist_like
from ..classify.model import MODALITIES, TriModalClassifier
from .data import FRAMES, N_MELS, speech_from_target, speech_target

LATENT = 16
NOISE = 32                      # the GAN's noise size
N_SLIDERS = 4                   # latent directions shown as sliders (PCA of posterior means)
MAX_SAMPLES = 16                # bounds checked before any work
TEMPERATURE_RANGE = (0.0, 1.5)
SLIDER_RANGE = 3.0              # slider offsets in standard deviations along each direction
INTERPOLATION_STEPS = 8
FEATURE_DIMS = {"image": 64, "text": 96, "audio": 128}


def mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                         nn.Linear(hidden, d_out))


class Expert(nn.Module):
    """A modality's frozen classifier features (+ the pixels, for images) -> Gaussian (mu, logvar)."""

    def __init__(self, d_in: int, hidden: int = 256):
        super().__init__()
        self.net = mlp(d_in, hidden, 2 * LATENT)

    def forward(self, x):
        mu, logvar = self.net(x).chunk(2, -1)
        return mu, logvar.clamp(-8, 4)


def product_of_experts(mus: list, logvars: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Experts (each (B, L)) + the prior N(0, I) -> joint mu, logvar and each expert's precision share
    (E + 1, B, L): prior first, then the experts in the given order; shares sum to 1 per dimension."""
    b = mus[0].shape[0] if mus else 1
    precisions = [torch.ones(b, LATENT)] + [torch.exp(-lv) for lv in logvars]
    total = torch.stack(precisions).sum(0)
    mu = sum(m * p for m, p in zip(mus, precisions[1:])) / total if mus else torch.zeros(b, LATENT)
    return mu, -torch.log(total), torch.stack(precisions) / total


class ImageDecoder(nn.Module):
    """z -> 28x28 logits: a linear layer to a 7x7 grid, a transposed convolution to 14x14, a 3x3
    convolution there (with `refine`), a transposed convolution to 28x28."""

    def __init__(self, d_in: int = LATENT, width: int = 32, refine: bool = False):
        super().__init__()
        half = width // 2
        self.fc = nn.Sequential(nn.Linear(d_in, width * 7 * 7), nn.SiLU())
        layers = [nn.ConvTranspose2d(width, half, 4, 2, 1), nn.BatchNorm2d(half), nn.SiLU()]
        if refine:
            layers += [nn.Conv2d(half, half, 3, padding=1), nn.BatchNorm2d(half), nn.SiLU()]
        self.up = nn.Sequential(*layers, nn.ConvTranspose2d(half, 1, 4, 2, 1))
        self.width = width

    def forward(self, z):
        return self.up(self.fc(z).view(-1, self.width, 7, 7))[:, 0]


class SpeechDecoder(nn.Module):
    """z -> (N_MELS, FRAMES) = 64 x 64 log-mel in 0..1: a two-layer MLP (5x cheaper to train here than
    the transposed convolutions it replaced; the log-mel of one spoken digit is smooth)."""

    def __init__(self, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(LATENT, hidden), nn.SiLU(), nn.Linear(hidden, N_MELS * FRAMES))

    def forward(self, z):
        return torch.sigmoid(self.net(z)).view(-1, N_MELS, FRAMES)


class MultimodalVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.experts = nn.ModuleDict({"image": Expert(FEATURE_DIMS["image"] + 28 * 28),
                                      "text": Expert(FEATURE_DIMS["text"], 128),
                                      "audio": Expert(FEATURE_DIMS["audio"], 128)})
        self.image_decoder = ImageDecoder(LATENT, 64, refine=True)
        self.speech_decoder = SpeechDecoder()
        # main latent directions: PCA of the training set's joint posterior means (set by train.py)
        self.register_buffer("pca_mean", torch.zeros(LATENT))
        self.register_buffer("pca_directions", torch.eye(LATENT)[:N_SLIDERS])
        self.register_buffer("pca_std", torch.ones(N_SLIDERS))

    def posterior(self, inputs: dict) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """inputs: modality -> expert input (B, D) for the given modalities -> joint mu, logvar, shares."""
        given = [m for m in MODALITIES if m in inputs]
        out = [self.experts[m](inputs[m]) for m in given]
        mu, logvar, share = product_of_experts([o[0] for o in out], [o[1] for o in out])
        return mu, logvar, dict(zip(["prior"] + given, share))


class ConditionalGenerator(nn.Module):
    """DCGAN generator: noise (B, NOISE) + class probabilities (B, 10) -> 28x28 image in 0..1."""

    def __init__(self, width: int = 64, embed: int = 32):
        super().__init__()
        self.embed = nn.Linear(10, embed)
        self.body = ImageDecoder(NOISE + embed, width)   # the VAE's image decoder design, wider

    def forward(self, noise, condition):
        return torch.sigmoid(self.body(torch.cat([noise, self.embed(condition)], 1)))


class EvaluationCNN(nn.Module):
    """The separately trained MNIST reader of generated digits: features (B, 128) and logits."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                  nn.Linear(32 * 7 * 7, 128), nn.ReLU())
        self.head = nn.Linear(128, 10)

    def forward(self, x):
        f = self.conv(x[:, None] - 0.5)
        return f, self.head(f)


class GenerateNet(nn.Module):
    """Everything in checkpoints/generate: the VAE, the GAN's generator, the evaluation CNN."""

    def __init__(self):
        super().__init__()
        self.vae = MultimodalVAE()
        self.generator = ConditionalGenerator()
        self.evaluator = EvaluationCNN()


def truncated_noise(n: int, temperature: float, gen: torch.Generator, shape_last: int) -> torch.Tensor:
    """Standard normal noise re-drawn beyond 2 sigma (truncation trick), scaled by temperature."""
    z = torch.randn(n, shape_last, generator=gen)
    while (bad := z.abs() > 2).any():
        z[bad] = torch.randn(int(bad.sum()), generator=gen)
    return z * temperature


@dataclass
class GenerateExtras:
    """What the Generate panel shows besides the samples' reading."""
    samples: np.ndarray                         # (n, 28, 28) in 0..1, the chosen model's samples
    sample_labels: list[int]                    # each sample read by the evaluation CNN
    latent: list[float]                         # the VAE joint posterior mean (after slider offsets)
    condition: dict[str, float]                 # the GAN's condition: the classifier's class probabilities
    input_image: np.ndarray | None = None       # (28, 28) the image as the experts saw it
    reconstruction: np.ndarray | None = None    # (28, 28) VAE image decoded from the joint mean (+ sliders)
    speech: tuple[int, np.ndarray] | None = None   # (16000, samples), model="vae" only: log-mel decoder + Griffin-Lim
    speech_mel: np.ndarray | None = None        # (N_MELS, FRAMES) in 0..1, what was made audible
    interpolation: np.ndarray | None = None     # (steps, 28, 28) image-only posterior -> text+audio posterior
    elbo: dict[str, float] = field(default_factory=dict)   # ELBO terms of this input (nats)
    sliders: list[float] = field(default_factory=list)     # the offsets used, in standard deviations


@dataclass
class SceneExtras:
    """model="scene": the composed scene and what the captioner read in it."""
    image: np.ndarray                           # (96, 96, 3) uint8
    boxes: list[tuple[int, int, int, int]]      # each object's box, left to right
    asked: str                                  # the caption as parsed (normalised)
    read_back: str                              # the project's captioner on the scene
    word_agreement: float                       # share of word positions where the two agree


NOTES = {
    "fusion_vae": "Product of experts: each modality's expert is a Gaussian over the 16-d latent; its weight is its "
                  "precision share (1/var_m) / (1 + sum of 1/var), per latent dimension, averaged over the 16 "
                  "dimensions. 'prior' is the N(0, I) expert's share.",
    "fusion_gan": "The GAN's condition is the tri-modal classifier's class probabilities (digits-gated); these are "
                  "that classifier's gate weights for the given modalities.",
    "elbo": "ELBO terms for this input at the joint posterior mean: image reconstruction = Bernoulli negative "
            "log-likelihood of the 784 pixels (if an image was given), speech reconstruction = squared error of "
            "the 64x64 log-mel / (2 * 0.3^2) (if a voice was given), KL = KL(q(z | given inputs) || N(0, I)).",
    "speech": "Speech: the VAE's log-mel (64 mel bands x 64 frames of 16 ms) decoded from the joint posterior mean "
              "(+ slider offsets), turned into sound by torchaudio's InverseMelScale and Griffin-Lim (32 iterations).",
    "sliders": "Sliders move the joint posterior mean along the first 4 principal directions of the training "
               "set's posterior means, in standard deviations of that direction.",
    "samples_vae": "VAE samples: z = mean + temperature * sd * noise from the joint posterior, decoded to pixel "
                   "probabilities.",
    "samples_gan": "GAN samples: noise truncated at 2 sd and scaled by the temperature, with the condition.",
    "reading": "Each sample read by the evaluation CNN (trained separately on MNIST, not part of either generator).",
    "scene": "Scene from a caption: each digit drawn by the conditional GAN (one-hot condition), each shape cut from "
             "an easy-VQA test image, painted in its colour and placed at random until the caption grammar's own "
             "rules (order by centre x, size words, relations) read the layout as the caption; then the "
             "project's captioner (scenes-adaptive-attention) reads the scene back.",
}
SPEECH_SIGMA = 0.3


class DigitGenerator:
    """`predict(image=, text=, audio=, model="vae"|"gan", n=8, temperature=1.0, sliders=None, seed=0)`."""
    task = "generate"

    def __init__(self, net: GenerateNet, config: dict, classifier: TriModalClassifier, name: str):
        self.net, self.config, self.classifier, self.name = net.eval(), config, classifier, name

    @classmethod
    def from_checkpoint(cls, folder, name: str = "digits"):
        config = checkpoint.read_config(folder)
        if config.get("task") != "generate":
            raise MMDemoError(f"{folder} holds a {config.get('task')!r} checkpoint, not a generator.")
        net = checkpoint.load_weights(folder, GenerateNet())
        classifier = TriModalClassifier.from_checkpoint(paths.checkpoints("classify"), "gated", "digits-gated")
        return cls(net, config, classifier, name)

    def check(self, model: str, n, temperature, sliders) -> list[float]:
        if model not in ("vae", "gan"):
            raise MMDemoError(f"model must be 'vae' or 'gan', not {model!r}.")
        if not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_SAMPLES:
            raise MMDemoError(f"n (number of samples) must be a whole number from 1 to {MAX_SAMPLES}, got {n!r}.")
        lo, hi = TEMPERATURE_RANGE
        if not isinstance(temperature, (int, float)) or not lo <= float(temperature) <= hi:
            raise MMDemoError(f"temperature must be a number from {lo} to {hi}, got {temperature!r}.")
        sliders = list(sliders or [])
        if len(sliders) > N_SLIDERS or any(not isinstance(s, (int, float)) or abs(s) > SLIDER_RANGE for s in sliders):
            raise MMDemoError(f"sliders: at most {N_SLIDERS} numbers from -{SLIDER_RANGE} to {SLIDER_RANGE}.")
        return [float(s) for s in sliders] + [0.0] * (N_SLIDERS - len(sliders))

    def preprocess(self, image=None, text=None, audio=None, notes: dict | None = None) -> dict:
        got = {}
        if image is not None:
            got["image"] = mnist_like(image)
        if text is not None and (not isinstance(text, str) or text.strip()):
            got["text"] = load_text(text, "text")
        if audio is not None:
            got["audio"] = load_audio(audio, target_rate=SAMPLE_RATE, notes=notes)[1]
        if not got:
            raise MMDemoError("Give at least one input: draw or upload a digit, type it, or say it.")
        return got

    @torch.no_grad()
    def features(self, got: dict) -> dict:
        """The frozen classifier's pooled vector of each given modality (1, D); images + their pixels."""
        enc = self.classifier.net
        out = {}
        for m in got:
            x = (torch.from_numpy(got[m])[None, None] if m == "image" else
                 encode_chars([got[m]]) if m == "text" else mel_batch([got[m]]))
            out[m] = enc.encode(m, x)[0]
        if "image" in out:
            out["image"] = expert_input_image(out["image"], torch.from_numpy(got["image"])[None])
        return out

    def predict(self, image=None, text=None, audio=None, model: str = "vae", n: int = 8, temperature: float = 1.0,
                sliders=None, seed: int = 0) -> Prediction:
        """model "vae" / "gan": digits from any subset of image, text, audio; "scene": text is a scene caption."""
        if model == "scene":
            return self.scene(text, seed)
        sliders = self.check(model, n, temperature, sliders)
        trimmed = {}
        got = self.preprocess(image, text, audio, notes=trimmed)
        return self.generate(got, self.features(got), model, int(n), float(temperature), sliders, seed, trimmed)

    @torch.no_grad()
    def generate(self, got, feats, model, n, temperature, sliders, seed, trimmed) -> Prediction:
        vae, gen = self.net.vae, torch.Generator().manual_seed(seed)
        mu, logvar, share = vae.posterior(feats)
        shifted = mu + (torch.tensor(sliders) * vae.pca_std) @ vae.pca_directions
        probs, gate = self.condition(feats)
        if model == "vae":
            z = mu + temperature * torch.exp(0.5 * logvar) * torch.randn(n, LATENT, generator=gen)
            samples = torch.sigmoid(vae.image_decoder(z))
        else:
            samples = self.net.generator(truncated_noise(n, temperature, gen, NOISE), probs.expand(n, -1))
        labels = self.net.evaluator(samples)[1].argmax(1).tolist()
        recon = torch.sigmoid(vae.image_decoder(shifted))[0]
        mel = vae.speech_decoder(shifted)[0] if model == "vae" else None   # the VAE speaks; the GAN only draws
        counts = np.bincount(labels, minlength=10)
        extras = GenerateExtras(
            samples=samples.numpy(), sample_labels=labels, latent=shifted[0].tolist(),
            condition={str(d): float(p) for d, p in enumerate(probs[0])}, input_image=got.get("image"),
            reconstruction=recon.numpy(), speech=(SAMPLE_RATE, speech_from_target(mel)) if mel is not None else None,
            speech_mel=mel.numpy() if mel is not None else None,
            interpolation=self.interpolation(feats), elbo=self.elbo_terms(feats, got, mu, logvar), sliders=sliders)
        top = int(counts.argmax())
        notes = {"fusion": NOTES["fusion_vae"] if model == "vae" else NOTES["fusion_gan"], "elbo": NOTES["elbo"],
                 "speech": NOTES["speech"], "sliders": NOTES["sliders"], "samples": NOTES[f"samples_{model}"],
                 "reading": NOTES["reading"]}
        if trimmed.get("audio"):
            notes["audio"] = trimmed["audio"]
        weights = ({m: float(s.mean()) for m, s in share.items()} if model == "vae" else gate)
        return Prediction(task=self.task, model=f"{self.name}-{model}", output=f"{counts[top]} of {n} read as {top}",
                          scores={str(d): float(c) / n for d, c in enumerate(counts) if c},
                          fusion_weights=weights, attention={}, notes=notes, extras=extras)

    def scene(self, caption, seed: int = 0) -> Prediction:
        """A caption -> a composed scene (scenes.py), read back by the project's captioner."""
        from ...registry import load
        from .scenes import compose
        if not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**31:
            raise MMDemoError(f"seed must be a whole number from 0 to {2**31 - 1}, got {seed!r}.")
        image, objects, asked = compose(caption, self.net.generator, int(seed))
        back = load("caption", "scenes-adaptive-attention").predict(image).output
        agreement = word_agreement(asked, back)
        extras = SceneExtras(image=image, boxes=[tuple(o["box"]) for o in objects], asked=asked, read_back=back,
                             word_agreement=agreement)
        return Prediction(task=self.task, model=f"{self.name}-scene", output=back,
                          scores={"read back exactly": float(back == asked), "words in agreement": agreement},
                          fusion_weights={}, attention={}, notes={"scene": NOTES["scene"]}, extras=extras)

    def condition(self, feats: dict) -> tuple[torch.Tensor, dict]:
        """The GAN's condition for one request: class probabilities (1, 10) and the gate's weights."""
        probs, weights = condition_batch(self.classifier, feats)
        return probs, {m: float(w) for m, w in zip(MODALITIES, weights[0]) if m in feats}

    def interpolation(self, feats: dict) -> np.ndarray | None:
        """Decoded images along the line from the image's posterior mean to the text+audio posterior mean."""
        others = {m: v for m, v in feats.items() if m != "image"}
        if "image" not in feats or not others:
            return None
        vae = self.net.vae
        a, b = vae.posterior({"image": feats["image"]})[0], vae.posterior(others)[0]
        t = torch.linspace(0, 1, INTERPOLATION_STEPS)[:, None]
        return torch.sigmoid(vae.image_decoder((1 - t) * a + t * b)).numpy()

    def elbo_terms(self, feats, got, mu, logvar) -> dict[str, float]:
        vae = self.net.vae
        terms = {"KL": float(kl_to_prior(mu, logvar)[0])}
        if "image" in got:
            logits = vae.image_decoder(mu)
            target = torch.from_numpy(got["image"])[None]
            terms["image reconstruction"] = float(nn.functional.binary_cross_entropy_with_logits(
                logits, target, reduction="sum"))
        if "audio" in got:
            target = torch.from_numpy(speech_target(got["audio"]))[None]
            terms["speech reconstruction"] = float(speech_nll(vae.speech_decoder(mu), target)[0])
        return terms


def word_agreement(asked: str, read: str) -> float:
    """Share of word positions (of the longer caption) where the two captions have the same word."""
    a, b = asked.split(), read.split()
    return sum(x == y for x, y in zip(a, b)) / max(len(a), len(b), 1)


@torch.no_grad()
def condition_batch(classifier: TriModalClassifier, feats: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The classifier's gated fusion of the given modalities' pooled vectors (each (B, D); image inputs
    may carry the pixels after them) -> class probabilities (B, 10), gate weights (B, 3)."""
    b = len(next(iter(feats.values())))
    pooled = [feats[m][:, :FEATURE_DIMS[m]] if m in feats else torch.zeros(b, FEATURE_DIMS[m]) for m in MODALITIES]
    present = torch.tensor([[m in feats for m in MODALITIES]]).expand(b, -1)
    logits, weights, _ = classifier.net.variants["gated"](pooled, present)
    return logits.softmax(-1), weights


def expert_input_image(pooled: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """The image expert reads the classifier's pooled vector and the 28x28 pixels (style the pooled vector drops)."""
    return torch.cat([pooled, pixels.reshape(len(pixels), -1)], 1)


def kl_to_prior(mu, logvar) -> torch.Tensor:
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


def speech_nll(pred, target) -> torch.Tensor:
    """Gaussian negative log-likelihood of the log-mel up to a constant: sum of squares / (2 sigma^2)."""
    return (pred - target).pow(2).flatten(1).sum(1) / (2 * SPEECH_SIGMA ** 2)


@register("generate", "digits", default=True)
def digits() -> DigitGenerator:
    return DigitGenerator.from_checkpoint(paths.checkpoints("generate"))
