"""Forest burst classifier: the science module declaration (the functions are in core.py)."""

from nenubroker.udfs.burst_features.core import CLASSES, FEATURES
from nenubroker.udfs.classifier_forest.core import MODULE_NAME, classify, model_version
from nenubroker.udfs.contract import classifier_module

#: ``model_dir``: a folder with model.joblib and model.json; empty: the shipped model.
MODULE = classifier_module(
    MODULE_NAME, classify, inputs=FEATURES, classes=CLASSES, model_version=model_version(),
    description="gradient-boosted trees on the burst_features columns (run burst_features first)",
)

__all__ = ["MODULE"]
