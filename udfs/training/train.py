"""Training of the shipped burst classifiers on labelled, domain-randomised simulated candidates (:mod:`.data`).

:func:`train_forest` and :func:`train_cnn` fit the two classifiers on all but a validation share of
the training segments, calibrate them on that share (temperature scaling and the ``other``
threshold, :mod:`.generalisation`) and write their model files and ``model.json`` (version
``MODEL_BASE_VERSION+<hash of the training table>``, calibration, validation scores);
:func:`evaluate` gives a confusion matrix, the macro-F1 and the calibration error; :func:`main`
does all of it for the ``nenubroker train`` command. The data-drawing names of :mod:`.data` are
re-exported here.

>>> settings = training_settings()
>>> settings.simulator.fftlen, settings.simulator.nfft2int, settings.ingest.downsample_freq
(16, 256, 16)
>>> len(CLASSES), CLASSES[-1]
(11, 'other')
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from nenubroker.udfs.burst_features.core import calibrated
from nenubroker.udfs.training.data import (
    CANDIDATE_COLUMNS,
    CLASSES,
    LEAKING_RFI,
    MATCH_SNR,
    NOISE_SEGMENT_EVERY,
    NOISE_SNR_THRESHOLD,
    SEGMENT_MINUTES,
    SNR_FACTOR_RANGE,
    TRAINING_RATES_PER_MIN,
    TRAINING_RFI_SCALE,
    TRAINING_SNR,
    cached_set,
    draw_rfi,
    label_candidates,
    make_training_set,
    read_candidates,
    table_hash,
    training_settings,
    write_candidates,
    write_sample,
)
from nenubroker.udfs.training.generalisation import (
    choose_other_threshold,
    expected_calibration_error,
    fit_temperature,
    predicted_labels,
    scores,
    split_segments,
)

MODEL_BASE_VERSION = "2.0.0"
#: Hours of simulated beam the shipped models are trained on (``nenubroker train --hours 4``): with the
#: held-out hour, the simulation takes about 20 min in 2 processes on a 2-core machine shared with
#: other jobs (measured; bench/results/generalisation.md).
TRAINING_HOURS = 4.0
CNN_EPOCHS = 20


class Evaluation(NamedTuple):
    """Confusion matrix (rows: true class, columns: predicted, over ``CLASSES``), macro-F1, accuracy,
    expected calibration error of the calibrated probabilities."""

    confusion: pd.DataFrame
    macro_f1: float
    accuracy: float
    ece: float


def _classifier(kind: str) -> Any:
    """The core module of classifier ``kind`` ("forest" or "cnn")."""
    if kind == "forest":
        from nenubroker.udfs.classifier_forest import core
    elif kind == "cnn":
        from nenubroker.udfs.classifier_cnn import core
    else:
        raise ValueError(f"unknown model {kind!r}: forest or cnn")
    return core


def probabilities(kind: str, df: pd.DataFrame, model_dir: Path | None = None, calibrate: bool = True) -> np.ndarray:
    """(n, len(CLASSES)) probabilities of classifier ``kind`` from ``model_dir`` (default: the shipped one)."""
    return _classifier(kind).predict_probabilities(df, model_dir=str(model_dir or ""), calibrate=calibrate)


def evaluate(model: str, df: pd.DataFrame, model_dir: Path | None = None) -> Evaluation:
    """Score ``model`` ("forest" or "cnn", from ``model_dir`` or the shipped one) against ``df["label"]``.

    Labels as the module gives them (calibrated, ``other`` under its threshold); the macro-F1 averages
    the classes present in ``df``.
    """
    predicted = _classifier(model).classify(df, model_dir=str(model_dir or ""))[f"classifier_{model}_label"]
    result = scores(df["label"], predicted.to_numpy())
    ece = expected_calibration_error(probabilities(model, df, model_dir), df["label"])
    return Evaluation(result["confusion"], result["macro_f1"], result["accuracy"], ece)


def _write_metadata(out_dir: Path, kind: str, df: pd.DataFrame, extra: dict[str, Any]) -> dict[str, Any]:
    version = f"{MODEL_BASE_VERSION}+{table_hash(df)}"
    counts = df["label"].value_counts().reindex(list(CLASSES), fill_value=0)
    detector = {key: str(df[key].iloc[0]) for key in ("detector", "detector_version") if key in df.columns}
    meta = {"version": version, "kind": kind, **detector, "classes": list(CLASSES), "n_training": len(df),
            "training_counts": {k: int(v) for k, v in counts.items()}, **extra}
    (out_dir / "model.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def _calibration(kind: str, validation: pd.DataFrame, out_dir: Path) -> dict[str, Any]:
    """Temperature and ``other`` threshold fitted on ``validation``, with its scores before and after."""
    raw = probabilities(kind, validation, out_dir, calibrate=False)
    temperature = fit_temperature(raw, validation["label"])
    scaled = calibrated(raw, temperature)
    other_below = choose_other_threshold(scaled, validation["label"])
    macro_f1 = scores(validation["label"], predicted_labels(scaled, other_below))["macro_f1"]
    return {"temperature": temperature, "other_below": other_below,
            "validation": {"n": len(validation), "segments": int(validation["segment"].nunique()), "macro_f1": macro_f1,
                           "ece": expected_calibration_error(scaled, validation["label"]),
                           "ece_uncalibrated": expected_calibration_error(raw, validation["label"])}}


def train_model(kind: str, df: pd.DataFrame, out_dir: Path, seed: int = 0, epochs: int = CNN_EPOCHS,
                info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fit ``kind`` on all but ``VALIDATION_FRACTION`` of the segments, calibrate on those; write the model
    file and ``model.json`` (returned as a dict).

    ``info`` (e.g. how the training set was drawn) is added to ``model.json``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fit_on, validation = split_segments(df, seed=seed)
    core = _classifier(kind)
    if kind == "forest":
        core.save_forest(core.fit_forest(fit_on[list(core.FEATURES)], fit_on["label"], seed=seed),
                         out_dir / core.MODEL_FILE)
        core.load_forest.cache_clear()
        extra: dict[str, Any] = {"features": list(core.FEATURES), "seed": seed}
    else:
        import torch

        net = core.fit_cnn(fit_on, fit_on["label"], epochs=epochs, seed=seed)
        torch.save(net.state_dict(), out_dir / core.MODEL_FILE)
        core.load_cnn.cache_clear()
        extra = {"epochs": epochs, "seed": seed, "members": len(net.members)}
    meta = _write_metadata(out_dir, kind, df, {**extra, **_calibration(kind, validation, out_dir), **(info or {})})
    core.load_calibration.cache_clear()
    return meta


def train_forest(df: pd.DataFrame, out_dir: Path, seed: int = 0, info: dict[str, Any] | None = None) -> str:
    """:func:`train_model` for the gradient-boosted trees (``model.joblib``); returns the version."""
    return str(train_model("forest", df, out_dir, seed=seed, info=info)["version"])


def train_cnn(df: pd.DataFrame, out_dir: Path, epochs: int = CNN_EPOCHS, seed: int = 0,
              info: dict[str, Any] | None = None) -> str:
    """:func:`train_model` for the CNN (``model.pt``, a state_dict); returns the version."""
    return str(train_model("cnn", df, out_dir, seed=seed, epochs=epochs, info=info)["version"])


def main(kind: str, hours: float = TRAINING_HOURS, seed: int = 1, detector: str = "burst_search",
         out_dir: Path | None = None, *, test_hours: float = 1.0, epochs: int = CNN_EPOCHS,
         cache_dir: Path | None = None, sample_per_class: int = 30, n_jobs: int = 2) -> dict[str, Any]:
    """Simulate, train ``kind`` ("forest" or "cnn") into ``out_dir`` (default: the module folder), evaluate.

    Training data comes from ``seed`` (with ``TRAINING_RFI_SCALE`` times the leaking RFI), the
    held-out set from ``seed + 1000`` (with the nominal RFI rates), both domain-randomised and
    simulated in ``n_jobs`` processes; both are cached as parquet in ``cache_dir`` when given.
    ``sample.parquet`` in ``out_dir`` gets ``sample_per_class`` held-out candidates of each class,
    and ``MODULE.version`` follows the new ``model.json`` in the next process. Returns the version,
    sizes, timings (s) and the held-out evaluation (``confusion``, ``macro_f1``, ``accuracy``, ``ece``).
    """
    settings = training_settings()
    out_dir = Path(out_dir) if out_dir else Path(__file__).parents[1] / f"classifier_{kind}"
    started = time.perf_counter()
    train = cached_set(settings, detector, hours, seed, cache_dir, n_jobs, TRAINING_RFI_SCALE)
    test = cached_set(settings, detector, test_hours, seed + 1000, cache_dir, n_jobs)
    simulated = time.perf_counter()
    info = {"training_hours": hours, "training_rfi_scale": TRAINING_RFI_SCALE}
    print(f"simulated {len(train)} training and {len(test)} held-out candidates in {simulated - started:.0f} s; "
          f"training {kind}", flush=True)
    version = train_model(kind, train, out_dir, seed=seed, epochs=epochs, info=info)["version"]
    trained = time.perf_counter()
    result = evaluate(kind, test, out_dir)
    write_sample(test, out_dir / "sample.parquet", per_class=sample_per_class, seed=seed)
    return {"version": version, "n_train": len(train), "n_test": len(test), "simulate_s": simulated - started,
            "train_s": trained - simulated, "macro_f1": result.macro_f1, "accuracy": result.accuracy,
            "ece": result.ece, "confusion": result.confusion}


__all__ = ["CANDIDATE_COLUMNS", "CLASSES", "CNN_EPOCHS", "LEAKING_RFI", "MATCH_SNR", "MODEL_BASE_VERSION",
           "NOISE_SEGMENT_EVERY", "NOISE_SNR_THRESHOLD", "SEGMENT_MINUTES", "SNR_FACTOR_RANGE",
           "TRAINING_HOURS", "TRAINING_RATES_PER_MIN", "TRAINING_RFI_SCALE", "TRAINING_SNR", "Evaluation",
           "draw_rfi", "evaluate", "label_candidates", "main", "make_training_set", "probabilities", "read_candidates",
           "table_hash", "train_cnn", "train_forest", "train_model", "training_settings", "write_candidates",
           "write_sample"]
