"""Training of the shipped burst classifiers on labelled simulated candidates (:mod:`.training_data`).

:func:`train_forest` and :func:`train_cnn` fit the two classifiers and write their model files and
``model.json`` (version ``MODEL_BASE_VERSION+<hash of the training table>``); :func:`evaluate` gives
a confusion matrix and the macro-F1; :func:`main` does all of it for the ``nenubroker train``
command. The data-drawing names of :mod:`.training_data` are re-exported here.

>>> settings = training_settings()
>>> settings.simulator.fftlen, settings.simulator.nfft2int, settings.ingest.downsample_freq
(16, 256, 16)
>>> CLASSES
('type_iii', 'type_iiib', 'spike', 'jupiter_s', 'rfi', 'other')
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, f1_score

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

MODEL_BASE_VERSION = "1.2.0"
#: Hours of simulated beam the shipped models are trained on (``nenubroker train --hours``).
TRAINING_HOURS = 6.0


class Evaluation(NamedTuple):
    """Confusion matrix (rows: true class, columns: predicted, over ``CLASSES``), macro-F1, accuracy."""

    confusion: pd.DataFrame
    macro_f1: float
    accuracy: float


def evaluate(model: str, df: pd.DataFrame, model_dir: Path | None = None) -> Evaluation:
    """Score ``model`` ("forest" or "cnn", from ``model_dir`` or the shipped one) against ``df["label"]``.

    The macro-F1 averages the classes present in ``df``.
    """
    if model == "forest":
        from nenubroker.udfs.classifier_forest.core import classify
    elif model == "cnn":
        from nenubroker.udfs.classifier_cnn.core import classify
    else:
        raise ValueError(f"unknown model {model!r}: forest or cnn")
    predicted = classify(df, model_dir=str(model_dir or ""))[f"classifier_{model}_label"]
    present = [c for c in CLASSES if c in set(df["label"])]
    matrix = confusion_matrix(df["label"], predicted, labels=list(CLASSES))
    confusion = pd.DataFrame(matrix, index=pd.Index(CLASSES, name="true"),
                             columns=pd.Index(CLASSES, name="predicted"))
    macro = float(f1_score(df["label"], predicted, labels=present, average="macro", zero_division=0))
    return Evaluation(confusion, macro, float(np.mean(df["label"].to_numpy() == predicted.to_numpy())))


def _write_metadata(out_dir: Path, kind: str, df: pd.DataFrame, extra: dict[str, Any]) -> str:
    version = f"{MODEL_BASE_VERSION}+{table_hash(df)}"
    counts = df["label"].value_counts().reindex(list(CLASSES), fill_value=0)
    detector = {key: str(df[key].iloc[0]) for key in ("detector", "detector_version") if key in df.columns}
    meta = {"version": version, "kind": kind, **detector, "classes": list(CLASSES), "n_training": len(df),
            "training_counts": {k: int(v) for k, v in counts.items()}, **extra}
    (out_dir / "model.json").write_text(json.dumps(meta, indent=1) + "\n")
    return version


def train_forest(df: pd.DataFrame, out_dir: Path, seed: int = 0, info: dict[str, Any] | None = None) -> str:
    """Fit the gradient-boosted trees on the ``feat_`` columns; write ``model.joblib`` and ``model.json``.

    ``info`` (e.g. how the training set was drawn) is added to ``model.json``.
    """
    from nenubroker.udfs.classifier_forest.core import FEATURES, MODEL_FILE, fit_forest, load_forest, save_forest

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_forest(fit_forest(df[list(FEATURES)], df["label"], seed=seed), out_dir / MODEL_FILE)
    load_forest.cache_clear()
    return _write_metadata(out_dir, "forest", df, {"features": list(FEATURES), "seed": seed, **(info or {})})


def train_cnn(df: pd.DataFrame, out_dir: Path, epochs: int = 20, seed: int = 0,
              info: dict[str, Any] | None = None) -> str:
    """Fit the CNN on the cutouts and scalars; write ``model.pt`` (a state_dict) and ``model.json``.

    ``info`` (e.g. how the training set was drawn) is added to ``model.json``.
    """
    import torch

    from nenubroker.udfs.classifier_cnn.core import MODEL_FILE, fit_cnn, load_cnn

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    net = fit_cnn(df, df["label"], epochs=epochs, seed=seed)
    torch.save(net.state_dict(), out_dir / MODEL_FILE)
    load_cnn.cache_clear()
    n_members = len(net.members)
    return _write_metadata(out_dir, "cnn", df, {"epochs": epochs, "seed": seed, "members": n_members,
                                                **(info or {})})


def main(kind: str, hours: float = TRAINING_HOURS, seed: int = 1, detector: str = "burst_search",
         out_dir: Path | None = None, *, test_hours: float = 1.0, epochs: int = 20,
         cache_dir: Path | None = None, sample_per_class: int = 30, n_jobs: int = 2) -> dict[str, Any]:
    """Simulate, train ``kind`` ("forest" or "cnn") into ``out_dir`` (default: the module folder), evaluate.

    Training data comes from ``seed`` (with ``TRAINING_RFI_SCALE`` times the leaking RFI), the
    held-out set from ``seed + 1000`` (drawn as the benchmark draws it, with the nominal RFI rates),
    simulated in ``n_jobs`` processes; both are cached as parquet in ``cache_dir`` when given.
    ``sample.parquet`` in ``out_dir`` gets ``sample_per_class`` held-out candidates of each class,
    and ``MODULE.version`` follows the new ``model.json`` in the next process. Returns the version,
    sizes, timings (s) and the held-out evaluation (``confusion``, ``macro_f1``, ``accuracy``).
    """
    settings = training_settings()
    out_dir = Path(out_dir) if out_dir else Path(__file__).parents[1] / f"classifier_{kind}"
    started = time.perf_counter()
    train = cached_set(settings, detector, hours, seed, cache_dir, n_jobs, TRAINING_RFI_SCALE)
    test = cached_set(settings, detector, test_hours, seed + 1000, cache_dir, n_jobs)
    simulated = time.perf_counter()
    info = {"training_hours": hours, "training_rfi_scale": TRAINING_RFI_SCALE}
    if kind == "forest":
        version = train_forest(train, out_dir, seed=seed, info=info)
    elif kind == "cnn":
        version = train_cnn(train, out_dir, epochs=epochs, seed=seed, info=info)
    else:
        raise ValueError(f"unknown model {kind!r}: forest or cnn")
    trained = time.perf_counter()
    result = evaluate(kind, test, out_dir)
    write_sample(test, out_dir / "sample.parquet", per_class=sample_per_class, seed=seed)
    return {"version": version, "n_train": len(train), "n_test": len(test), "simulate_s": simulated - started,
            "train_s": trained - simulated, "macro_f1": result.macro_f1, "accuracy": result.accuracy,
            "confusion": result.confusion}


__all__ = ["CANDIDATE_COLUMNS", "CLASSES", "LEAKING_RFI", "MATCH_SNR", "MODEL_BASE_VERSION",
           "NOISE_SEGMENT_EVERY", "NOISE_SNR_THRESHOLD", "SEGMENT_MINUTES", "SNR_FACTOR_RANGE",
           "TRAINING_HOURS", "TRAINING_RATES_PER_MIN", "TRAINING_RFI_SCALE", "TRAINING_SNR", "Evaluation",
           "draw_rfi", "evaluate", "label_candidates", "main", "make_training_set", "read_candidates",
           "table_hash", "train_cnn", "train_forest", "training_settings", "write_candidates", "write_sample"]
