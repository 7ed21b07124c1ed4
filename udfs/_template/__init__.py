"""Template science module: copy this folder to udfs/<your_module>/ and edit (see README.md).

Folders whose name starts with '_' are not loaded; yours will be, once its ``MODULE`` is declared.
"""

from pydantic import BaseModel

from nenubroker.udfs._template.core import MODULE_NAME, MODULE_VERSION, burst_fluence
from nenubroker.udfs.contract import Column, ScienceModule


class Params(BaseModel):
    """Your parameters, with defaults; override them in conf/nenubroker.yaml under modules.params.<name>."""

    min_snr: float = 0.0


MODULE = ScienceModule(
    name=MODULE_NAME,
    version=MODULE_VERSION,
    level="candidate",
    function=burst_fluence,
    inputs=("snr", "duration_s", "freq_min_hz", "freq_max_hz"),
    outputs=(Column("template_fluence", "double", "S/N x s x MHz", "a toy brightness x extent"),),
    params=Params,
    description="template: a toy candidate score to copy from",
)
