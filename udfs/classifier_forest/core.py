"""Gradient-boosted trees on the ``burst_features`` columns: fit, save, load once, classify.

The model is a scikit-learn ``HistGradientBoostingClassifier`` (small: 11 classes x at most
``MAX_ITER`` trees of ``MAX_LEAF_NODES`` leaves), stored with joblib beside this file as
``model.joblib`` with ``model.json`` (version, classes, features, training counts, calibration).
Its probabilities are temperature-scaled with the ``temperature`` fitted on validation data, and a
candidate whose most probable class stays under ``other_below`` is labelled ``other`` (nothing fits).
joblib files are pickles: load only the shipped file or one you trained yourself.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nenubroker.udfs.burst_features.core import CLASSES, FEATURES, calibrated, class_table, read_calibration

MODULE_NAME = "classifier_forest"
MODEL_FILE = "model.joblib"
META_FILE = "model.json"
MODEL_DIR = Path(__file__).parent
MAX_ITER = 150
MAX_LEAF_NODES = 15
LEARNING_RATE = 0.1


def model_version(model_dir: Path = MODEL_DIR) -> str:
    """The version in ``model.json`` ("2.0.0+<training-table hash>"), or "2.0.0+untrained"."""
    path = Path(model_dir) / META_FILE
    return str(json.loads(path.read_text())["version"]) if path.is_file() else "2.0.0+untrained"


def fit_forest(features: pd.DataFrame, labels: pd.Series, seed: int = 0) -> Any:
    """A fitted classifier over all ``CLASSES`` (absent classes get one tiny placeholder row each).

    Classes are weighted inversely to their frequency, so rare ones count as much as common ones.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    x = features[list(FEATURES)].to_numpy(np.float64)
    y = labels.to_numpy(dtype=object)
    missing = [c for c in CLASSES if c not in set(y)]
    if missing:
        x = np.vstack([x, np.zeros((len(missing), x.shape[1]))])
        y = np.concatenate([y, np.array(missing, dtype=object)])
    model = HistGradientBoostingClassifier(max_iter=MAX_ITER, max_leaf_nodes=MAX_LEAF_NODES,
                                           learning_rate=LEARNING_RATE, class_weight="balanced",
                                           early_stopping=False, random_state=seed)
    with threadpool_limits(1):  # OpenMP threads spin badly on a shared machine; one is fast enough
        return model.fit(x, y)


def save_forest(model: Any, path: Path) -> None:
    import joblib

    joblib.dump(model, path, compress=3)


@cache
def load_forest(model_dir: str = "") -> Any:
    """The model in ``model_dir`` (default: the shipped one), loaded once per process."""
    import joblib

    return joblib.load(Path(model_dir or MODEL_DIR) / MODEL_FILE)


@cache
def load_calibration(model_dir: str = "") -> tuple[float, float]:
    """``temperature`` and ``other_below`` of the model in ``model_dir``, read once per process."""
    return read_calibration(Path(model_dir or MODEL_DIR) / META_FILE)


def predict_probabilities(features: pd.DataFrame, model_dir: str = "", calibrate: bool = True) -> np.ndarray:
    """(n, len(CLASSES)) class probabilities in ``CLASSES`` order, rows summing to 1; one OpenMP thread.

    ``calibrate``: temperature-scaled as ``model.json`` says (False: the trees' own, for fitting it).
    """
    from threadpoolctl import threadpool_limits

    model = load_forest(model_dir)
    x = np.nan_to_num(features[list(FEATURES)].to_numpy(np.float64))
    if len(x) == 0:
        return np.zeros((0, len(CLASSES)))
    with threadpool_limits(1):
        probabilities = model.predict_proba(x)
    order = [list(model.classes_).index(c) for c in CLASSES]
    probabilities = probabilities[:, order]
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return calibrated(probabilities, load_calibration(model_dir)[0]) if calibrate else probabilities


def classify(candidates: pd.DataFrame, model_dir: str = "") -> pd.DataFrame:
    """``classifier_forest_label`` and ``classifier_forest_probabilities`` (dict class -> calibrated
    probability); ``other`` where no class reaches the model's ``other_below``."""
    return class_table(MODULE_NAME, predict_probabilities(candidates, model_dir), candidates.index,
                       other_below=load_calibration(model_dir)[1])


__all__ = ["CLASSES", "FEATURES", "MODEL_DIR", "MODEL_FILE", "MODULE_NAME", "classify", "fit_forest",
           "load_calibration", "load_forest", "model_version", "predict_probabilities", "save_forest"]
