"""Honest measures of the burst classifiers: calibration, `other`, and held-out configurations.

A classifier trained and scored on the same simulator configurations says little about data from
another band, resolution or burst morphology. Here:

- :func:`split_segments` keeps whole simulated segments apart (candidates of one segment share
  noise, RFI and events), for a validation split of the training set;
- :func:`fit_temperature` fits temperature scaling (Guo et al. 2017) on validation probabilities,
  :func:`choose_other_threshold` the probability under which a candidate is called ``other``
  (nothing fits), and :func:`expected_calibration_error` / :func:`reliability` say how well the
  probabilities match the frequencies;
- :func:`experiments` lists the splits: in-distribution (a held-out seed, the same configuration
  distribution) and leave-one-configuration-out (train without a band, a detection resolution or a
  morphology family, test on it), and :func:`run_experiment` trains a model without what an
  experiment leaves out and scores it there. Thresholds and temperatures come from validation data
  only, never from the test sets.

>>> import numpy as np
>>> p = np.array([[0.9, 0.1], [0.6, 0.4]])
>>> round(expected_calibration_error(p, [CLASSES[0], CLASSES[1]], n_bins=10), 3)
0.35
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from sklearn.metrics import confusion_matrix, f1_score

from nenubroker.udfs.burst_features.core import CLASSES, calibrated
from nenubroker.udfs.training.data import BANDS

#: Share of the training segments kept for validation (calibration and the ``other`` threshold).
VALIDATION_FRACTION = 0.2
#: Candidate thresholds for ``other``: the most probable class's calibrated probability.
OTHER_THRESHOLDS = tuple(np.round(np.arange(0.0, 0.71, 0.05), 2))
ECE_BINS = 15
#: Held-out bands (Hz) of the leave-one-band-out experiments: the narrow families of ``data.BANDS``.
HELD_OUT_BANDS = {name: BANDS[name] for name in ("low", "mid", "high")}
#: Morphology families left out one at a time (``config_family``): U and J bursts, type III harmonics.
HELD_OUT_FAMILIES = ("u_j", "harmonic")


def split_segments(df: pd.DataFrame, fraction: float = VALIDATION_FRACTION,
                   seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit, validation): ``fraction`` of the segments, drawn at random, go to validation whole."""
    segments = np.array(sorted(set(df["segment"])))
    rng = np.random.default_rng(seed)
    n_validation = max(1, int(round(fraction * len(segments))))
    validation = set(rng.permutation(segments)[:n_validation])
    mask = df["segment"].isin(validation).to_numpy()
    return df[~mask], df[mask]


def _targets(labels: pd.Series | np.ndarray) -> np.ndarray:
    return np.array([CLASSES.index(label) for label in labels])


def fit_temperature(probabilities: np.ndarray, labels: pd.Series | np.ndarray) -> float:
    """The temperature T in [0.05, 20] minimising the negative log-likelihood of softmax(log p / T)."""
    targets = _targets(labels)

    def nll(log_t: float) -> float:
        p = calibrated(probabilities, float(np.exp(log_t)))
        return float(-np.mean(np.log(np.clip(p[np.arange(len(targets)), targets], 1e-12, None))))

    return float(np.exp(minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded").x))


def predicted_labels(probabilities: np.ndarray, other_below: float = 0.0) -> np.ndarray:
    """The most probable class, or ``other`` where its probability is under ``other_below``."""
    best = np.argmax(probabilities, axis=1)
    labels = np.array(CLASSES, dtype=object)[best]
    labels[probabilities[np.arange(len(best)), best] < other_below] = "other"
    return labels


def choose_other_threshold(probabilities: np.ndarray, labels: pd.Series | np.ndarray,
                           thresholds: tuple[float, ...] = OTHER_THRESHOLDS) -> float:
    """The threshold in ``thresholds`` with the highest macro-F1 on (validation) data; the lowest on ties."""
    present = sorted(set(labels))
    scores = [f1_score(labels, predicted_labels(probabilities, t), labels=present, average="macro",
                       zero_division=0) for t in thresholds]
    return float(thresholds[int(np.argmax(np.round(scores, 4)))])


def reliability(probabilities: np.ndarray, labels: pd.Series | np.ndarray, n_bins: int = ECE_BINS) -> pd.DataFrame:
    """Per confidence bin (top-label probability): ``count``, mean ``confidence``, ``accuracy``."""
    targets = _targets(labels)
    confidence = probabilities.max(axis=1)
    correct = np.argmax(probabilities, axis=1) == targets
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    frame = pd.DataFrame({"bin": bins, "confidence": confidence, "correct": correct})
    grouped = frame.groupby("bin").agg(count=("correct", "size"), confidence=("confidence", "mean"),
                                       accuracy=("correct", "mean"))
    return grouped.reindex(range(n_bins)).assign(lower=np.arange(n_bins) / n_bins)


def expected_calibration_error(probabilities: np.ndarray, labels: pd.Series | np.ndarray,
                               n_bins: int = ECE_BINS) -> float:
    """Top-label ECE: the count-weighted mean |accuracy - confidence| over the confidence bins."""
    table = reliability(probabilities, labels, n_bins).dropna()
    if table.empty:
        return float("nan")
    weights = table["count"] / table["count"].sum()
    return float((weights * (table["accuracy"] - table["confidence"]).abs()).sum())


def scores(labels: pd.Series | np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Macro-F1 over the classes present in ``labels``, accuracy, per-class F1 and the confusion matrix."""
    labels = np.asarray(labels, dtype=object)
    present = [c for c in CLASSES if c in set(labels)]
    per_class = f1_score(labels, predicted, labels=present, average=None, zero_division=0)
    matrix = confusion_matrix(labels, predicted, labels=list(CLASSES))
    return {"n": int(len(labels)),
            "macro_f1": float(np.mean(per_class)) if present else float("nan"),
            "accuracy": float(np.mean(labels == predicted)) if len(labels) else float("nan"),
            "per_class_f1": {c: float(f) for c, f in zip(present, per_class, strict=True)},
            "support": {c: int((labels == c).sum()) for c in present},
            "confusion": pd.DataFrame(matrix, index=pd.Index(CLASSES, name="true"),
                                      columns=pd.Index(CLASSES, name="predicted"))}


@dataclass(frozen=True)
class Experiment:
    """Train on ``train[train_mask]``, test on ``test[test_mask]``; ``group``: in_distribution, band,
    resolution or family."""

    name: str
    group: str
    train_mask: np.ndarray
    test_mask: np.ndarray


def _overlaps(df: pd.DataFrame, lo_hz: float, hi_hz: float) -> np.ndarray:
    return ((df["config_freq_lo_mhz"] * 1e6 < hi_hz) & (df["config_freq_hi_mhz"] * 1e6 > lo_hz)).to_numpy()


def experiments(train: pd.DataFrame, test: pd.DataFrame) -> list[Experiment]:
    """In-distribution, then one experiment per held-out band, detection resolution and morphology family.

    Band: training drops every segment whose band touches the held-out range (wide ones included);
    the test keeps the held-out seed's segments of that band family. Resolution: training drops that
    resolution, the test keeps only it. Family: training drops the family's candidates, the test is
    the whole held-out set (its macro-F1) with the family's own recall reported beside it.
    Noise-only segments (the ``other`` class) follow the same rules.
    """
    everything = np.ones(len(train), bool)
    out = [Experiment("in-distribution", "in_distribution", everything, np.ones(len(test), bool))]
    for name, (lo_hz, hi_hz) in HELD_OUT_BANDS.items():
        out.append(Experiment(f"band {name} ({lo_hz / 1e6:.0f}-{hi_hz / 1e6:.0f} MHz)", "band",
                              ~_overlaps(train, lo_hz, hi_hz), (test["config_band"] == name).to_numpy()))
    for resolution in sorted(set(test["config_resolution"])):
        out.append(Experiment(f"resolution {resolution}", "resolution",
                              (train["config_resolution"] != resolution).to_numpy(),
                              (test["config_resolution"] == resolution).to_numpy()))
    for family in HELD_OUT_FAMILIES:
        out.append(Experiment(f"family {family}", "family", (train["config_family"] != family).to_numpy(),
                              np.ones(len(test), bool)))
    return out


def run_experiment(kind: str, train: pd.DataFrame, test: pd.DataFrame, experiment: Experiment, seed: int = 1,
                   epochs: int | None = None) -> dict[str, Any]:
    """Train ``kind`` (forest or cnn, calibrated on its own validation split) without what ``experiment``
    leaves out and score it on what it keeps: :func:`scores` of the calibrated labels (with ``other``),
    ``ece`` (calibrated), ``ece_raw`` (before scaling), ``temperature``, ``other_below``, and for a
    family the share of its test candidates given their true class (``family_recall``)."""
    from nenubroker.udfs.training import train as training

    fit_on, tested = train[experiment.train_mask], test[experiment.test_mask]
    with tempfile.TemporaryDirectory() as folder:
        model_dir = Path(folder)
        options = {"epochs": epochs} if kind == "cnn" and epochs else {}
        meta = training.train_model(kind, fit_on, model_dir, seed=seed, **options)
        raw = training.probabilities(kind, tested, model_dir, calibrate=False)
    probabilities = calibrated(raw, meta["temperature"])
    predicted = predicted_labels(probabilities, meta["other_below"])
    result = {"name": experiment.name, "group": experiment.group, "model": kind, "n_train": int(len(fit_on)),
              **scores(tested["label"], predicted), "ece": expected_calibration_error(probabilities, tested["label"]),
              "ece_raw": expected_calibration_error(raw, tested["label"]), "temperature": meta["temperature"],
              "other_below": meta["other_below"], "reliability": reliability(probabilities, tested["label"]),
              "reliability_raw": reliability(raw, tested["label"])}
    if experiment.group == "family":
        family = (tested["config_family"] == experiment.name.split()[-1]).to_numpy()
        result["family_n"] = int(family.sum())
        result["family_recall"] = float(np.mean(predicted[family] == tested["label"].to_numpy()[family]))
    return result


__all__ = ["ECE_BINS", "HELD_OUT_BANDS", "HELD_OUT_FAMILIES", "OTHER_THRESHOLDS", "VALIDATION_FRACTION", "Experiment",
           "choose_other_threshold", "expected_calibration_error", "experiments", "fit_temperature",
           "predicted_labels", "reliability", "run_experiment", "scores", "split_segments"]
