"""CNN burst classifier: the science module declaration (the functions are in core.py)."""

from nenubroker.udfs.classifier_cnn.core import CLASSES, INPUTS, MODULE_NAME, classify, model_version
from nenubroker.udfs.contract import classifier_module

#: ``model_dir``: a folder with model.pt and model.json; empty: the shipped model.
MODULE = classifier_module(
    MODULE_NAME, classify, inputs=INPUTS, classes=CLASSES, model_version=model_version(),
    description="small CNN on the 32 x 32 cutout and the burst_features scalars (CPU, one thread)",
)

__all__ = ["MODULE"]
