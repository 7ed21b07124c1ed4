"""Pipeline steps run per partition: each one class with declared parameters and run(inputs) -> outputs.

``STEPS`` maps a recipe's step name to its class. ``merge`` is many-to-one: it runs once over all
partitions (its input kind ``fits_list`` is the list of every partition's ``fits``).
"""

from nenubroker.batch.steps.apply import Apply
from nenubroker.batch.steps.average import Average
from nenubroker.batch.steps.base import Step
from nenubroker.batch.steps.calibrate import Calibrate
from nenubroker.batch.steps.flag import Flag
from nenubroker.batch.steps.image import Image
from nenubroker.batch.steps.merge import Merge

STEPS: dict[str, type[Step]] = {step.name: step for step in (Flag, Average, Calibrate, Apply, Image, Merge)}

__all__ = ["STEPS", "Apply", "Average", "Calibrate", "Flag", "Image", "Merge", "Step"]
