"""Checkpoints: a folder with model.safetensors (weights only, no pickle), config.json (how to
build the model, plus the measured metrics) and README.md (the model card)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .errors import MMDemoError

MAX_CHECKPOINT_BYTES = 10 * 2**20   # built-in checkpoints stay small enough for a Space without LFS


@dataclass
class Trained:
    """What a task's train() returns; mmdemo/train.py saves it (save(folder, **vars(trained)))."""
    module: torch.nn.Module
    config: dict                      # how to build the model, the training settings, the measured metrics
    card: str                         # the model card (README.md)
    files: dict[str, str] = field(default_factory=dict)   # other files to write beside them: name -> text


def save(folder, module: torch.nn.Module, config: dict, card: str, files: dict[str, str] | None = None) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {}).items():
        (folder / name).write_text(text)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(state, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (folder / "README.md").write_text(card)
    size = (folder / "model.safetensors").stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        print(f"warning: {folder}/model.safetensors is {size / 2**20:.1f} MiB (> 10 MiB)")
    return folder


def read_config(folder) -> dict:
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise MMDemoError(f"No checkpoint at {folder}: config.json is missing. "
                          f"Train one with `python -m mmdemo.train ...`.")
    return json.loads(path.read_text())


def load_weights(folder, module: torch.nn.Module) -> torch.nn.Module:
    """Load model.safetensors into `module`, refusing missing, extra or mis-shaped tensors."""
    path = Path(folder) / "model.safetensors"
    if not path.is_file():
        raise MMDemoError(f"No weights at {path}.")
    try:   # safetensors only: a pickle (torch.save) or any other file is refused, never unpickled
        state = load_file(str(path))
    except Exception as e:
        raise MMDemoError(f"{path} is not a readable safetensors file ({type(e).__name__}); "
                          "only safetensors checkpoints are loaded.") from None
    load_checked(module, state, f"The checkpoint {path}")
    return module.eval()


def load_checked(module: torch.nn.Module, state: dict, what: str) -> None:
    """Load `state` into `module`, refusing any missing, unexpected or differently shaped tensor
    (MMDemoError "<what> does not fit the model: ..."). Also used for the offline backends' weights."""
    expected = module.state_dict()
    problems = [f"{k}: missing in the file" for k in expected if k not in state]
    problems += [f"{k}: not in the model" for k in state if k not in expected]
    problems += [f"{k}: {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the model"
                 for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if problems:
        raise MMDemoError(f"{what} does not fit the model: " + "; ".join(problems[:5]))
    module.load_state_dict(state, strict=True)
