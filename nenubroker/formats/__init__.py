"""Formats people use for alerts: VOEvent 2.0 packets and TFCat catalogues (the night's detections,
and the simulator's truth, which ``nenubroker.edge.sim.truth`` builds on ``formats.tfcat``)."""

from nenubroker.formats.tfcat import (
    alerts_to_tfcat,
    read_tfcat,
    utc_night,
    validate_tfcat,
    write_night_catalogues,
    write_tfcat,
)
from nenubroker.formats.voevent import (
    VOEventError,
    alert_ivorn,
    alert_to_voevent,
    retraction,
    role_for_source,
    update,
    validate_voevent,
    write_voevent,
)

__all__ = ["VOEventError", "alert_ivorn", "alert_to_voevent", "alerts_to_tfcat", "read_tfcat", "retraction",
           "role_for_source", "update", "utc_night", "validate_tfcat", "validate_voevent",
           "write_night_catalogues", "write_tfcat", "write_voevent"]
