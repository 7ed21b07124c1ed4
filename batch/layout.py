"""NenuFAR mini-array layout, read from a small CSV shipped with the package.

The positions come from nenupy (``nenupy/instru/nenufar_array.json``, geodetic lon/lat/height per
mini-array) converted once to ITRF geocentric X, Y, Z (metres) with astropy; see the header of
``data/nenufar_miniarrays.csv``. Shipping them means the batch tools need neither nenupy nor astropy
at run time.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

__all__ = ["MiniArray", "miniarrays", "array_centre_itrf_m", "N_CORE"]

N_CORE = 96  # MA000..MA095 form the core, within about 500 m; MA1xx are remote.
_CSV = "nenufar_miniarrays.csv"


@dataclass(frozen=True)
class MiniArray:
    """One NenuFAR mini-array: its name (``MA000``) and ITRF position in metres."""

    name: str
    itrf_xyz_m: tuple[float, float, float]
    core: bool = True
    rotation_deg: float = 0.0


def _read_text() -> str:
    return resources.files("nenubroker.batch").joinpath("data", _CSV).read_text()


@lru_cache(maxsize=1)
def _load() -> tuple[tuple[MiniArray, ...], tuple[float, float, float]]:
    """Parse the shipped CSV once: mini-arrays in file order and the array centre."""
    text = _read_text()
    centre: tuple[float, float, float] | None = None
    rows = []
    for line in text.splitlines():
        if line.startswith("# centre,"):
            x, y, z = (float(v) for v in line.split(",")[1:4])
            centre = (x, y, z)
        elif line and not line.startswith("#"):
            rows.append(line)
    arrays = tuple(
        MiniArray(
            name=r["name"],
            itrf_xyz_m=(float(r["x_m"]), float(r["y_m"]), float(r["z_m"])),
            core=r["core"] == "1",
            rotation_deg=float(r["rotation_deg"]),
        )
        for r in csv.DictReader(rows)
    )
    if centre is None:
        raise ValueError(f"{_CSV} lacks its '# centre,x,y,z' line")
    return arrays, centre


def miniarrays(core_only: bool = False, count: int | None = None) -> list[MiniArray]:
    """Return NenuFAR mini-arrays in name order.

    Parameters
    ----------
    core_only
        Keep only the 96 core mini-arrays (MA000-MA095).
    count
        Keep the first ``count`` core mini-arrays (deterministic: MA000, MA001, ...). Core ones
        come first, so ``count`` > 96 adds remote mini-arrays unless ``core_only``.

    Examples
    --------
    >>> [m.name for m in miniarrays(count=3)]
    ['MA000', 'MA001', 'MA002']
    """
    arrays = [m for m in _load()[0] if m.core or not core_only]
    arrays.sort(key=lambda m: (not m.core, m.name))
    if count is not None:
        if not 2 <= count <= len(arrays):
            raise ValueError(f"count must be in 2..{len(arrays)}, got {count}")
        arrays = arrays[:count]
    return arrays


def array_centre_itrf_m() -> tuple[float, float, float]:
    """ITRF position (metres) of the NenuFAR array centre (nenupy's ``nenufar_position``).

    Examples
    --------
    >>> round(sum(c * c for c in array_centre_itrf_m()) ** 0.5 / 1e6, 2)
    6.37
    """
    return _load()[1]
