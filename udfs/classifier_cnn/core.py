"""A small hybrid CNN on the (32, 32) cutout and scalar features: network, preprocessing, fit, CPU inference.

The cutout (S/N units) is compressed with sign(z) log(1 + |z|). The scalars are the ``SCALARS``
columns of :func:`~nenubroker.udfs.burst_features.core.burst_features` (scale-free extent, S/N,
relative drift and type III law ratios, cutout shape statistics), computed here from the detector's
columns (so the module needs no other module before it) and standardised with the training set's
mean and standard deviation, which the network keeps as buffers. Three 3x3 convolution blocks (16,
32, 32 channels, each halving the size) feed, with the scalars, a 64-unit layer and the 11 class
logits (about 25 k parameters). The weights ship as a state_dict, ``model.pt``, with ``model.json``
(which also holds the calibration: ``temperature`` and ``other_below``). Inference runs on CPU with
one torch thread, the network loaded once per process.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from nenubroker.udfs.burst_features.core import (
    CLASSES,
    FEATURES,
    as_cutout,
    burst_features,
    calibrated,
    class_table,
    read_calibration,
)

MODULE_NAME = "classifier_cnn"
MODEL_FILE = "model.pt"
META_FILE = "model.json"
MODEL_DIR = Path(__file__).parent
INPUTS = ("cutout", "duration_s", "freq_min_hz", "freq_max_hz", "freq_peak_hz", "drift_hz_per_s", "snr")
#: ``burst_features`` columns the network reads beside the cutout.
SCALARS = FEATURES
N_SCALARS = len(SCALARS)
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
MAX_CLASS_WEIGHT = 10.0
#: Networks trained with seeds ``seed``, ``seed + 1``, ..., their probabilities averaged (1: on the
#: seed-1001 validation hour of version 1, 3 networks gave macro-F1 0.904, one 0.907).
N_MEMBERS = 1
#: Training epochs of each member (chosen for version 1: 20, 30 and 50 epochs within 0.01 macro-F1).
EPOCHS = 20


class BurstCNN(nn.Module):
    """Cutout (n, 1, 32, 32) and raw scalars (n, ``N_SCALARS``) to class logits (n, len(CLASSES)).

    The scalars are standardised inside with the buffers ``scalar_mean`` and ``scalar_std``
    (set by :func:`fit_cnn` from the training set, saved in the state_dict).
    """

    def __init__(self, n_classes: int = len(CLASSES), n_scalars: int = N_SCALARS):
        super().__init__()

        def block(n_in: int, n_out: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(n_in, n_out, 3, padding=1), nn.BatchNorm2d(n_out), nn.ReLU(),
                                 nn.MaxPool2d(2))

        self.convolutions = nn.Sequential(block(1, 16), block(16, 32), block(32, 32), nn.AdaptiveAvgPool2d(2))
        self.head = nn.Sequential(nn.Linear(32 * 4 + n_scalars, 64), nn.ReLU(), nn.Dropout(0.2),
                                  nn.Linear(64, n_classes))
        self.register_buffer("scalar_mean", torch.zeros(n_scalars))
        self.register_buffer("scalar_std", torch.ones(n_scalars))

    def forward(self, cutout: torch.Tensor, scalars: torch.Tensor) -> torch.Tensor:
        scaled = ((scalars - self.scalar_mean) / self.scalar_std).clamp(-10.0, 10.0)
        return self.head(torch.cat([self.convolutions(cutout).flatten(1), scaled], dim=1))


class BurstCNNEnsemble(nn.Module):
    """``N_MEMBERS`` :class:`BurstCNN` whose softmax probabilities are averaged; returns their log."""

    def __init__(self, n_members: int = N_MEMBERS):
        super().__init__()
        self.members = nn.ModuleList(BurstCNN() for _ in range(n_members))

    def forward(self, cutout: torch.Tensor, scalars: torch.Tensor) -> torch.Tensor:
        probabilities = torch.stack([torch.softmax(m(cutout, scalars), dim=1) for m in self.members])
        return torch.log(probabilities.mean(dim=0).clamp_min(1e-30))


def model_version(model_dir: Path = MODEL_DIR) -> str:
    """The version in ``model.json`` ("2.0.0+<training-table hash>"), or "2.0.0+untrained"."""
    path = Path(model_dir) / META_FILE
    return str(json.loads(path.read_text())["version"]) if path.is_file() else "2.0.0+untrained"


def prepare(candidates: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
    """Network inputs: compressed cutouts (n, 1, 32, 32) and raw ``SCALARS`` (n, ``N_SCALARS``), float32."""
    cutouts = np.zeros((0, 32, 32))
    scalars = np.zeros((0, N_SCALARS))
    if len(candidates):
        cutouts = np.stack([as_cutout(c) for c in candidates["cutout"]])
        scalars = burst_features(candidates)[list(SCALARS)].to_numpy(np.float64)
    images = np.sign(cutouts) * np.log1p(np.abs(cutouts))
    return torch.from_numpy(images[:, None].astype(np.float32)), torch.from_numpy(scalars.astype(np.float32))


def _class_weights(targets: np.ndarray) -> torch.Tensor:
    """Inverse class frequency (absent classes 0), capped at ``MAX_CLASS_WEIGHT`` times the mean."""
    counts = np.bincount(targets, minlength=len(CLASSES)).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / np.count_nonzero(counts), 0.0)
    return torch.tensor(np.minimum(weights, MAX_CLASS_WEIGHT), dtype=torch.float32)


def _fit_member(images: torch.Tensor, scalars: torch.Tensor, targets: np.ndarray, epochs: int,
                seed: int) -> BurstCNN:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    target_tensor = torch.from_numpy(targets)
    net = BurstCNN()
    net.scalar_mean.copy_(scalars.mean(dim=0))
    net.scalar_std.copy_(scalars.std(dim=0).clamp_min(1e-6))
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


def fit_cnn(candidates: pd.DataFrame, labels: pd.Series, epochs: int = EPOCHS, seed: int = 0,
            n_members: int = N_MEMBERS) -> BurstCNNEnsemble:
    """Train ``n_members`` networks (seeds ``seed``, ``seed + 1``, ...) on CPU with one thread.

    Reproducible for a seed and torch version; returned in eval mode.
    """
    torch.set_num_threads(1)
    images, scalars = prepare(candidates)
    targets = np.array([CLASSES.index(label) for label in labels])
    ensemble = BurstCNNEnsemble(n_members)
    for k in range(n_members):
        ensemble.members[k] = _fit_member(images, scalars, targets, epochs, seed + k)
    return ensemble.eval()


@cache
def load_cnn(model_dir: str = "") -> BurstCNNEnsemble:
    """The networks in ``model_dir`` (default: the shipped ones), on CPU, loaded once per process."""
    state = torch.load(Path(model_dir or MODEL_DIR) / MODEL_FILE, map_location="cpu", weights_only=True)
    n_members = len({key.split(".")[1] for key in state if key.startswith("members.")})
    net = BurstCNNEnsemble(n_members)
    net.load_state_dict(state)
    return net.eval()


@cache
def load_calibration(model_dir: str = "") -> tuple[float, float]:
    """``temperature`` and ``other_below`` of the network in ``model_dir``, read once per process."""
    return read_calibration(Path(model_dir or MODEL_DIR) / META_FILE)


def predict_probabilities(candidates: pd.DataFrame, model_dir: str = "", batch_size: int = 512,
                          calibrate: bool = True) -> np.ndarray:
    """(n, len(CLASSES)) class probabilities in ``CLASSES`` order, on CPU with one torch thread.

    ``calibrate``: temperature-scaled as ``model.json`` says (False: the softmax itself, for fitting it).
    """
    torch.set_num_threads(1)
    net = load_cnn(model_dir)
    images, scalars = prepare(candidates)
    parts = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            log_p = net(images[start:start + batch_size], scalars[start:start + batch_size])
            parts.append(torch.softmax(log_p.double(), dim=1).numpy())
    probabilities = np.concatenate(parts) if parts else np.zeros((0, len(CLASSES)))
    return calibrated(probabilities, load_calibration(model_dir)[0]) if calibrate else probabilities


def classify(candidates: pd.DataFrame, model_dir: str = "") -> pd.DataFrame:
    """``classifier_cnn_label`` and ``classifier_cnn_probabilities`` (dict class -> calibrated probability);
    ``other`` where no class reaches the model's ``other_below``."""
    return class_table(MODULE_NAME, predict_probabilities(candidates, model_dir), candidates.index,
                       other_below=load_calibration(model_dir)[1])


__all__ = ["CLASSES", "EPOCHS", "INPUTS", "MODEL_DIR", "MODEL_FILE", "MODULE_NAME", "N_MEMBERS", "SCALARS",
           "BurstCNN", "BurstCNNEnsemble", "classify", "fit_cnn", "load_calibration",
           "load_cnn", "model_version", "predict_probabilities", "prepare"]
