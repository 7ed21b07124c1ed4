"""The ripple that the station polyphase filter bank (PFB) leaves inside each 195 kHz subband.

NenuFAR (like LOFAR) splits the band into subbands with a 1024-channel, 16-tap PFB: a
16384-tap prototype low-pass filter. UnDySPuTeD then FFTs each subband into ``fftlen``
channels, so every subband shows the filter's shape: about 2x less power at its edges than
at its centre. The power seen in a channel is the prototype's squared response there plus
what aliases in from the two neighbouring subbands.

The taps in ``data/pfb_taps_16384.dat`` are an unchanged copy of ``bandpass_coeffs.dat``
from nenupy 2.8.5 (``nenupy/io/``, MIT licence, "function and coefficients by C. Viou"),
sha256 ``22689c8e1d6f20904239bdff4bc634a1a02b4cb7737c5855263a063ddaf482ef``. They are
int16 (peak 32767) and symmetric. The correction is nenupy's ``get_bandpass``, except that
the response is sampled on ``fftlen * 1024`` points for every even ``fftlen``; nenupy uses
``(fftlen // 16) * 16 * 1024``, which is the same for multiples of 16 and wrong otherwise.

>>> corr = pfb_correction(64)
>>> round(float(corr[0]), 2), round(float(corr[32]), 2)
(1.97, 1.01)
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

TAPS_PATH = Path(__file__).with_name("data") / "pfb_taps_16384.dat"
N_PFB_CHANNELS = 1024
N_PFB_TAPS = 16
# nenupy normalises the summed power by 2**50 (its gain is 2**25 / amplitude).
_POWER_NORM = 2.0**50


@lru_cache(maxsize=1)
def pfb_taps() -> np.ndarray:
    """The 16384 prototype-filter taps, read once from the shipped file.

    Returns
    -------
    numpy.ndarray
        float64, shape (16384,).
    """
    taps = np.loadtxt(TAPS_PATH, dtype=np.float64)
    if taps.shape != (N_PFB_CHANNELS * N_PFB_TAPS,):
        raise ValueError(f"{TAPS_PATH}: expected 16384 taps, found {taps.size}")
    return taps


def _check_fftlen(fftlen: int) -> None:
    if fftlen < 16 or fftlen % 2:
        raise ValueError(f"fftlen must be even and >= 16 for the PFB correction, got {fftlen}")


@lru_cache(maxsize=16)
def pfb_power_response(fftlen: int) -> np.ndarray:
    """Power gain of each channel of a subband through the PFB, aliasing from neighbours included.

    Parameters
    ----------
    fftlen : int
        Channels per subband, even and >= 16.

    Returns
    -------
    numpy.ndarray
        float64, shape (fftlen,), in frequency order (lowest channel first, DC at ``fftlen // 2``),
        i.e. the order after the reader's fftshift. About 0.51 at the lower edge, 0.99 at DC.
    """
    _check_fftlen(fftlen)
    gain = np.fft.fft(pfb_taps(), fftlen * N_PFB_CHANNELS)
    half = fftlen // 2
    own = np.r_[gain[-half:], gain[:half]]
    upper = gain[half : half + fftlen]
    lower = gain[-half - fftlen : -half]
    power = np.abs(own) ** 2 + np.abs(lower) ** 2 + np.abs(upper) ** 2
    response = power / _POWER_NORM
    response.setflags(write=False)
    return response


def pfb_correction(fftlen: int) -> np.ndarray:
    """Factor that flattens a subband: multiply the channel powers by it.

    ``1 / pfb_power_response(fftlen)``: same argument, shape and channel order as
    :func:`pfb_power_response`; ≈ 1.97 at the lower edge, ≈ 1.01 at DC (see the module example).
    """
    return 1.0 / pfb_power_response(fftlen)


__all__ = ["N_PFB_CHANNELS", "N_PFB_TAPS", "TAPS_PATH", "pfb_correction", "pfb_power_response", "pfb_taps"]
