"""CNN burst classifier: the science module declaration (the functions are in core.py)."""

import pandas as pd
from pydantic import BaseModel

from nenubroker.udfs.classifier_cnn.core import CLASSES, INPUTS, MODULE_NAME, classify, model_version
from nenubroker.udfs.contract import ScienceModule, classifier_columns


class Params(BaseModel):
    model_dir: str = ""  # a folder with model.pt and model.json; empty: the shipped model


def run(candidates: pd.DataFrame, model_dir: str = "") -> pd.DataFrame:
    """Label and class probabilities of each candidate from its cutout and the detector columns."""
    return classify(candidates, model_dir=model_dir)


MODULE = ScienceModule(
    name=MODULE_NAME, version=model_version(), level="candidate", function=run, inputs=INPUTS,
    outputs=classifier_columns(MODULE_NAME, CLASSES),
    params=Params,
    description="small CNN on the 32 x 32 cutout and the burst_features scalars (CPU, one thread)",
    extra={"classes": CLASSES},
)

__all__ = ["MODULE", "Params"]
