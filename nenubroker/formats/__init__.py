"""Formats people use for alerts: VOEvent 2.0 packets and TFCat catalogues of the night's detections."""

from nenubroker.formats.tfcat import alerts_to_tfcat, read_tfcat, utc_night, write_night_catalogues
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
           "role_for_source", "update", "utc_night", "validate_voevent", "write_night_catalogues",
           "write_voevent"]
