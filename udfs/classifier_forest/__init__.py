"""Forest burst classifier: the science module declaration (the functions are in core.py)."""

import pandas as pd
from pydantic import BaseModel

from nenubroker.udfs.burst_features.core import CLASSES, FEATURES
from nenubroker.udfs.classifier_forest.core import MODULE_NAME, classify, model_version
from nenubroker.udfs.contract import ScienceModule, classifier_columns


class Params(BaseModel):
    model_dir: str = ""  # a folder with model.joblib and model.json; empty: the shipped model


def run(candidates: pd.DataFrame, model_dir: str = "") -> pd.DataFrame:
    """Label and class probabilities of each candidate from its ``feat_*`` columns."""
    return classify(candidates, model_dir=model_dir)


MODULE = ScienceModule(
    name=MODULE_NAME, version=model_version(), level="candidate", function=run, inputs=FEATURES,
    outputs=classifier_columns(MODULE_NAME, CLASSES),
    params=Params,
    description="gradient-boosted trees on the burst_features columns (run burst_features first)",
    extra={"classes": CLASSES},
)

__all__ = ["MODULE", "Params"]
