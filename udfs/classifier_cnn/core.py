"""A small CNN on the (32, 32) cutout and four scalars: network, preprocessing, fit and CPU inference.

The cutout (S/N units) is compressed with sign(z) log(1 + |z|); the scalars are log10 duration,
log10 bandwidth, centre frequency and log10 S/N, scaled to about unit range. Three 3x3 convolution
blocks (16, 32, 32 channels, each halving the size) feed, with the scalars, a 64-unit layer and
the 6 class logits (about 23 k parameters). The weights ship as a state_dict, ``model.pt``, with
``model.json``. Inference runs on CPU with one torch thread, the network loaded once per process.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from nenubroker.udfs.burst_features.core import CLASSES, as_cutout, class_table

MODULE_NAME = "classifier_cnn"
MODEL_FILE = "model.pt"
META_FILE = "model.json"
MODEL_DIR = Path(__file__).parent
INPUTS = ("cutout", "duration_s", "freq_min_hz", "freq_max_hz", "snr")
N_SCALARS = 4
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
MAX_CLASS_WEIGHT = 10.0


class BurstCNN(nn.Module):
    """Cutout (n, 1, 32, 32) and scalars (n, 4) to class logits (n, 6)."""

    def __init__(self, n_classes: int = len(CLASSES), n_scalars: int = N_SCALARS):
        super().__init__()

        def block(n_in: int, n_out: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(n_in, n_out, 3, padding=1), nn.BatchNorm2d(n_out), nn.ReLU(),
                                 nn.MaxPool2d(2))

        self.convolutions = nn.Sequential(block(1, 16), block(16, 32), block(32, 32), nn.AdaptiveAvgPool2d(2))
        self.head = nn.Sequential(nn.Linear(32 * 4 + n_scalars, 64), nn.ReLU(), nn.Dropout(0.2),
                                  nn.Linear(64, n_classes))

    def forward(self, cutout: torch.Tensor, scalars: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.convolutions(cutout).flatten(1), scalars], dim=1))


def model_version(model_dir: Path = MODEL_DIR) -> str:
    """The version in ``model.json`` ("1.1.0+<training-table hash>"), or "1.1.0+untrained"."""
    path = Path(model_dir) / META_FILE
    return str(json.loads(path.read_text())["version"]) if path.is_file() else "1.1.0+untrained"


def prepare(candidates: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
    """Network inputs: compressed cutouts (n, 1, 32, 32) and scaled scalars (n, 4), float32."""
    cutouts = np.zeros((0, 32, 32))
    if len(candidates):
        cutouts = np.stack([as_cutout(c) for c in candidates["cutout"]])
    images = np.sign(cutouts) * np.log1p(np.abs(cutouts))
    duration_s = np.maximum(candidates["duration_s"].to_numpy(np.float64), 1e-3)
    f_min = candidates["freq_min_hz"].to_numpy(np.float64)
    f_max = candidates["freq_max_hz"].to_numpy(np.float64)
    scalars = np.stack([
        np.log10(duration_s) + 0.5,
        np.log10(np.maximum(f_max - f_min, 1e3)) - 6.0,
        (f_min + f_max) / 2e6 / 50.0 - 0.8,
        np.log10(np.maximum(candidates["snr"].to_numpy(np.float64), 1.0)) - 1.0,
    ], axis=1) if len(candidates) else np.zeros((0, N_SCALARS))
    scalars = np.nan_to_num(scalars)
    return torch.from_numpy(images[:, None].astype(np.float32)), torch.from_numpy(scalars.astype(np.float32))


def _class_weights(targets: np.ndarray) -> torch.Tensor:
    """Inverse class frequency (absent classes 0), capped at ``MAX_CLASS_WEIGHT`` times the mean."""
    counts = np.bincount(targets, minlength=len(CLASSES)).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / np.count_nonzero(counts), 0.0)
    return torch.tensor(np.minimum(weights, MAX_CLASS_WEIGHT), dtype=torch.float32)


def fit_cnn(candidates: pd.DataFrame, labels: pd.Series, epochs: int = 30, seed: int = 0) -> BurstCNN:
    """Train on CPU with one thread (reproducible for a seed and torch version); the net in eval mode."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    images, scalars = prepare(candidates)
    targets = np.array([CLASSES.index(label) for label in labels])
    target_tensor = torch.from_numpy(targets)
    net = BurstCNN()
    optimiser = torch.optim.AdamW(net.parameters(), lr=LEARNING_RATE, weight_decay=1e-3)
    steps_per_epoch = max(1, int(np.ceil(len(targets) / BATCH_SIZE)))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=LEARNING_RATE,
                                                   total_steps=epochs * steps_per_epoch)
    loss_function = nn.CrossEntropyLoss(weight=_class_weights(targets))
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(targets), generator=generator)
        for start in range(0, len(targets), BATCH_SIZE):
            batch = order[start:start + BATCH_SIZE]
            if len(batch) < 2:
                continue
            optimiser.zero_grad()
            loss = loss_function(net(images[batch], scalars[batch]), target_tensor[batch])
            loss.backward()
            optimiser.step()
            schedule.step()
    return net.eval()


@cache
def load_cnn(model_dir: str = "") -> BurstCNN:
    """The network in ``model_dir`` (default: the shipped one), on CPU, loaded once per process."""
    net = BurstCNN()
    state = torch.load(Path(model_dir or MODEL_DIR) / MODEL_FILE, map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    return net.eval()


def predict_probabilities(candidates: pd.DataFrame, model_dir: str = "", batch_size: int = 512) -> np.ndarray:
    """(n, 6) class probabilities in ``CLASSES`` order, on CPU with one torch thread."""
    torch.set_num_threads(1)
    net = load_cnn(model_dir)
    images, scalars = prepare(candidates)
    parts = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            logits = net(images[start:start + batch_size], scalars[start:start + batch_size])
            parts.append(torch.softmax(logits.double(), dim=1).numpy())
    return np.concatenate(parts) if parts else np.zeros((0, len(CLASSES)))


def classify(candidates: pd.DataFrame, model_dir: str = "") -> pd.DataFrame:
    """``classifier_cnn_label`` and ``classifier_cnn_probabilities`` (dict class -> probability)."""
    return class_table(MODULE_NAME, predict_probabilities(candidates, model_dir), candidates.index)


__all__ = ["CLASSES", "INPUTS", "MODEL_DIR", "MODEL_FILE", "MODULE_NAME", "BurstCNN", "classify", "fit_cnn",
           "load_cnn", "model_version", "predict_probabilities", "prepare"]
