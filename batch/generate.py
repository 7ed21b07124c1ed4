"""Simulated NenuFAR Measurement Sets with a known truth, for testing and benchmarking the batch chain.

The sky is a few unpolarised point sources (apparent fluxes: there is no primary beam, as WSClean
without EveryBeam applies none). Each mini-array has one complex gain per polarisation, **constant
in time and frequency**, so one calibration solution over the whole MS recovers it. Then come
terrestrial RFI (present, *not* flagged: the flagging step must find it) and Gaussian noise.

Conventions (checked against WSClean imaging and DP3 predict in ``tests/batch/test_generate.py``):

* UVW from casacore (antenna2 − antenna1); V_pq = g_p g_q* Σ S exp(+2πi(ul + vm + w(n−1))/λ).
* Stokes I = (XX + YY) / 2, so an unpolarised source of flux S puts S in XX and S in YY; XY = YX = 0.
* S(ν) = S0 (ν / ν0)^α, as DP3's sky model with ``LogarithmicSI = true``.
* Channel j of subband n is centred at n·195312.5 + (j − C/2)·195312.5/C Hz (C channels per subband,
  the convention of NenuFAR's subband channelisation).
* Gains are given relative to MA000 (phase 0 in both polarisations), as calibration returns them.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .layout import array_centre_itrf_m, miniarrays
from .ms import create_ms

__all__ = ["PointSource", "Truth", "generate_ms", "default_sources", "channel_freqs_hz", "lmn", "mjd_s",
           "sky_visibilities", "apply_gains", "random_gains", "write_skymodel", "load_truth", "main"]

log = logging.getLogger(__name__)

SUBBAND_WIDTH_HZ = 195312.5
C_M_S = 299_792_458.0
_MJD_EPOCH = datetime(1858, 11, 17, tzinfo=UTC)


@dataclass(frozen=True)
class PointSource:
    """An unpolarised point source; flux_jy is Stokes I at ref_freq_hz."""

    ra_deg: float
    dec_deg: float
    flux_jy: float
    spectral_index: float = -0.7
    ref_freq_hz: float = 50e6
    name: str = ""

    def flux_at(self, freqs_hz: np.ndarray) -> np.ndarray:
        return self.flux_jy * (np.asarray(freqs_hz) / self.ref_freq_hz) ** self.spectral_index


@dataclass
class Truth:
    """Everything the generator put into an MS, saved as ``<ms>.truth.json``."""

    ms: str
    sources: list[dict]
    gains: dict[str, dict[str, dict[str, float]]]  # antenna -> pol (x, y) -> {amp, phase_deg}
    noise_jy: float
    rfi_channels: list[int]
    rfi_times: list[int]  # timestamp indices of broadband bursts
    params: dict
    seed: int
    conventions: dict = field(default_factory=dict)

    def gains_array(self) -> np.ndarray:
        """Gains as complex (n_antennas, 2) in antenna order, columns (x, y)."""
        return np.array([[g[p]["amp"] * np.exp(1j * np.radians(g[p]["phase_deg"])) for p in ("x", "y")]
                         for g in self.gains.values()])


# --------------------------------------------------------------------------- pure numpy core


def channel_freqs_hz(first_subband: int, n_subbands: int,
                     channels_per_subband: int) -> tuple[np.ndarray, float]:
    """Channel centres and width for consecutive subbands split into channels.

    Examples
    --------
    >>> f, w = channel_freqs_hz(256, 1, 2)
    >>> f.tolist(), w
    ([49902343.75, 50000000.0], 97656.25)
    """
    width_hz = SUBBAND_WIDTH_HZ / channels_per_subband
    sb = np.arange(first_subband, first_subband + n_subbands)
    j = np.arange(channels_per_subband)
    freqs = sb[:, None] * SUBBAND_WIDTH_HZ + (j[None, :] - channels_per_subband // 2) * width_hz
    return freqs.ravel().astype(float), width_hz


def lmn(ra_rad: np.ndarray, dec_rad: np.ndarray, ra0_rad: float, dec0_rad: float) -> np.ndarray:
    """Direction cosines (l, m, n) of sky positions relative to a phase centre, shape (..., 3)."""
    d_ra = ra_rad - ra0_rad
    l_ = np.cos(dec_rad) * np.sin(d_ra)
    m_ = np.sin(dec_rad) * np.cos(dec0_rad) - np.cos(dec_rad) * np.sin(dec0_rad) * np.cos(d_ra)
    return np.stack([l_, m_, np.sqrt(1.0 - l_ ** 2 - m_ ** 2)], axis=-1)


def sky_visibilities(uvw_m: np.ndarray, freqs_hz: np.ndarray, sources: list[PointSource],
                     phase_centre_rad: tuple[float, float]) -> np.ndarray:
    """Stokes-I visibilities (n_rows, n_chan) of point sources: Σ S exp(+2πi(ul+vm+w(n−1))/λ)."""
    vis = np.zeros((len(uvw_m), len(freqs_hz)), np.complex128)
    for s in sources:
        l_, m_, n_ = lmn(np.radians(s.ra_deg), np.radians(s.dec_deg), *phase_centre_rad)
        delay_s = (uvw_m @ np.array([l_, m_, n_ - 1.0])) / C_M_S
        vis += s.flux_at(freqs_hz)[None, :] * np.exp(2j * np.pi * delay_s[:, None] * freqs_hz[None, :])
    return vis


def apply_gains(xx: np.ndarray, xy: np.ndarray, yx: np.ndarray, yy: np.ndarray, gains: np.ndarray,
                ant1: np.ndarray, ant2: np.ndarray) -> np.ndarray:
    """Corrupt (n_rows, n_chan) correlations by diagonal gains (n_ant, 2): V'_pq^ab = g_p^a V g_q^b*."""
    gx1, gy1 = gains[ant1, 0][:, None], gains[ant1, 1][:, None]
    gx2, gy2 = np.conj(gains[ant2, 0])[:, None], np.conj(gains[ant2, 1])[:, None]
    return np.stack([gx1 * xx * gx2, gx1 * xy * gy2, gy1 * yx * gx2, gy1 * yy * gy2], axis=-1)


def random_gains(n_ant: int, rng: np.random.Generator, amp_rms: float, phase_rms_deg: float) -> np.ndarray:
    """Complex gains (n_ant, 2): amplitude 1 ± amp_rms, phase N(0, rms) clipped at ±2 rms, MA000 phase 0.

    Clipping keeps them well-posed for calibration (|amp − 1| ≤ 0.5, |phase| ≤ 60° at the defaults).
    """
    amp = np.clip(1.0 + amp_rms * rng.standard_normal((n_ant, 2)), 0.5, 1.5)
    phase_deg = np.clip(phase_rms_deg * rng.standard_normal((n_ant, 2)), -2 * phase_rms_deg,
                        2 * phase_rms_deg)
    phase_deg[0] = 0.0
    return amp * np.exp(1j * np.radians(phase_deg))


def default_sources(phase_centre_deg: tuple[float, float]) -> list[PointSource]:
    """Three bright sources 1-2.5° from the phase centre (well inside a 20° image at 50 MHz)."""
    ra0, dec0 = phase_centre_deg
    offsets = [(1.2, 0.6, 120.0, -0.8), (-1.5, -1.0, 70.0, -0.6), (0.4, -2.0, 40.0, -1.0)]
    return [PointSource(ra0 + d_ra / np.cos(np.radians(dec0 + d_dec)), dec0 + d_dec, s, a, name=f"S{i}")
            for i, (d_ra, d_dec, s, a) in enumerate(offsets)]


def rfi_phases(positions_m: np.ndarray, freqs_hz: np.ndarray, azimuth_deg: float) -> np.ndarray:
    """Per-antenna phase (n_ant, n_chan) of a terrestrial transmitter on the horizon at an azimuth.

    Unlike a celestial source it does not rotate with the sky, so it does not fringe-stop away.
    """
    x, y, z = array_centre_itrf_m()
    lon = np.arctan2(y, x)
    lat = np.arctan2(z, np.hypot(x, y))  # geocentric: close enough for a horizon direction
    east = np.array([-np.sin(lon), np.cos(lon), 0.0])
    north = np.array([-np.sin(lat) * np.cos(lon), -np.sin(lat) * np.sin(lon), np.cos(lat)])
    az = np.radians(azimuth_deg)
    delay_s = positions_m @ (np.cos(az) * north + np.sin(az) * east) / C_M_S
    return 2 * np.pi * delay_s[:, None] * freqs_hz[None, :]


# --------------------------------------------------------------------------- I/O edge


def mjd_s(when: str | float) -> float:
    """MJD seconds (UTC) from an ISO date-time string, or pass MJD seconds through."""
    if isinstance(when, (int, float)):
        return float(when)
    dt = datetime.fromisoformat(when)
    dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return (dt - _MJD_EPOCH).total_seconds()


def _sexagesimal(value_deg: float, hours: bool) -> str:
    """makesourcedb angles: RA ``hh:mm:ss.ssss``, Dec ``+dd.mm.ss.ssss``."""
    v = (value_deg % 360.0) / 15.0 if hours else value_deg
    sign = "-" if v < 0 else "+"
    v = abs(v)
    d = int(v)
    m = int((v - d) * 60)
    s = (v - d - m / 60) * 3600
    return f"{d:02d}:{m:02d}:{s:07.4f}" if hours else f"{sign}{d:02d}.{m:02d}.{s:07.4f}"


def write_skymodel(path: str | Path, sources: list[PointSource]) -> Path:
    """Write a DP3/makesourcedb text sky model (DP3 6 reads it directly as ``sourcedb``)."""
    lines = ["format = Name, Type, Ra, Dec, I, ReferenceFrequency, SpectralIndex, LogarithmicSI", ""]
    for i, s in enumerate(sources):
        lines.append(f"{s.name or f'S{i}'}, POINT, {_sexagesimal(s.ra_deg, True)}, "
                     f"{_sexagesimal(s.dec_deg, False)}, {s.flux_jy!r}, {s.ref_freq_hz!r}, "
                     f"[{s.spectral_index!r}], true")
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


def load_truth(ms_path: str | Path) -> Truth:
    """Read ``<ms>.truth.json``."""
    return Truth(**json.loads(Path(str(ms_path) + ".truth.json").read_text()))


def generate_ms(
    path: str | Path,
    *,
    n_antennas: int = 24,
    n_times: int = 60,
    time_step_s: float = 8.0,
    n_subbands: int = 1,
    channels_per_subband: int = 16,
    first_subband: int = 256,
    start_time: str | float = "2024-03-20T11:00:00",
    phase_centre_deg: tuple[float, float] = (350.0, 52.0),
    sources: list[PointSource] | None = None,
    gain_amp_rms: float = 0.1,
    gain_phase_rms_deg: float = 30.0,
    noise_jy: float = 1.0,
    rfi: bool = True,
    rfi_jy: float = 1000.0,
    n_rfi_channels: int = 2,
    n_rfi_times: int = 2,
    seed: int = 0,
) -> Truth:
    """Write a simulated NenuFAR MS at ``path`` plus ``<path>.truth.json`` and ``<path>.skymodel``.

    ``n_antennas`` takes the first core mini-arrays (MA000, MA001, ...). Sizes: ~3.3 kB per row
    at 64 channels, rows = n_times · n_antennas(n_antennas−1)/2. ``rfi_jy`` is the peak
    per-correlation RFI amplitude; ``noise_jy`` the rms of each of real and imaginary parts.

    Examples
    --------
    >>> truth = generate_ms(getfixture("tmp_path") / "g.ms", n_antennas=4, n_times=2, channels_per_subband=4)
    >>> len(truth.gains), truth.params["n_rows"]
    (4, 12)
    """
    path = Path(path)
    t_start = time.monotonic()
    rng = np.random.default_rng(seed)
    antennas = miniarrays(count=n_antennas)
    positions_m = np.array([a.itrf_xyz_m for a in antennas])
    freqs_hz, width_hz = channel_freqs_hz(first_subband, n_subbands, channels_per_subband)
    n_chan = len(freqs_hz)
    times_s = mjd_s(start_time) + (np.arange(n_times) + 0.5) * time_step_s
    centre_rad = (float(np.radians(phase_centre_deg[0])), float(np.radians(phase_centre_deg[1])))
    if sources is None:
        sources = default_sources(phase_centre_deg)
    sources = [s if s.name else PointSource(**{**asdict(s), "name": f"S{i}"}) for i, s in enumerate(sources)]
    gains = random_gains(n_antennas, rng, gain_amp_rms, gain_phase_rms_deg)

    # RFI: a few narrowband transmitters (persistent, slowly fading carriers, away from the band
    # edges) and a few broadband bursts one integration long, from fixed horizon directions.
    rfi_channels = sorted(rng.choice(np.arange(1, n_chan - 1), size=min(n_rfi_channels, n_chan - 2),
                                     replace=False).tolist()) if rfi and n_chan > 2 else []
    rfi_times = (sorted(rng.choice(n_times, size=min(n_rfi_times, n_times), replace=False).tolist())
                 if rfi else [])
    carrier_amp = rfi_jy * (0.5 + 0.5 * rng.random(len(rfi_channels)))
    fade = 0.6 + 0.4 * np.sin(2 * np.pi * (np.arange(n_times)[:, None] / max(n_times, 8) * 3
                                           + rng.random(len(rfi_channels))[None, :]))  # (time, rfi chan)
    carrier_phase = rfi_phases(positions_m, freqs_hz, azimuth_deg=float(rng.uniform(0, 360)))
    burst_phase = rfi_phases(positions_m, freqs_hz, azimuth_deg=float(rng.uniform(0, 360)))
    burst_spectrum = 0.5 * rfi_jy * (freqs_hz / freqs_hz.mean()) ** -2.0

    def predict(uvw_m: np.ndarray, ant1: np.ndarray, ant2: np.ndarray, time_s: np.ndarray) -> np.ndarray:
        sky = sky_visibilities(uvw_m, freqs_hz, sources, centre_rad)
        xx, yy = sky.copy(), sky
        xy = np.zeros_like(sky)
        t_idx = np.searchsorted(times_s, time_s)
        if rfi_channels:
            amp = carrier_amp[None, :] * fade[t_idx]  # (row, rfi chan)
            ph = carrier_phase[ant1][:, rfi_channels] - carrier_phase[ant2][:, rfi_channels]
            r = amp * np.exp(1j * ph)
            xx[:, rfi_channels] += r
            yy[:, rfi_channels] += 0.7 * r
            xy[:, rfi_channels] += 0.3 * r
        for ti in rfi_times:
            rows = t_idx == ti
            r = burst_spectrum[None, :] * np.exp(1j * (burst_phase[ant1[rows]] - burst_phase[ant2[rows]]))
            xx[rows] += r
            yy[rows] += r
        data = apply_gains(xx, xy, np.conj(xy) if rfi_channels else xy, yy, gains, ant1, ant2)
        for ti in np.unique(t_idx):  # noise drawn per timestamp: independent of the block size
            rows = t_idx == ti
            noise_rng = np.random.default_rng([seed, 1, int(ti)])
            shape = (int(rows.sum()), n_chan, 4, 2)
            noise = noise_jy * noise_rng.standard_normal(shape, dtype=np.float32)
            data[rows] += noise[..., 0] + 1j * noise[..., 1]
        return data.astype(np.complex64)

    n_rows = n_times * n_antennas * (n_antennas - 1) // 2

    logged_tenths = [0]

    def progress(done: int, total: int) -> None:  # about every 10 % of a big MS
        if total > 100_000 and 10 * done // total > logged_tenths[0]:
            logged_tenths[0] = 10 * done // total
            log.info("%s: %d/%d rows (%.0f%%), %.0f s", path.name, done, total, 100 * done / total,
                     time.monotonic() - t_start)

    create_ms(path, antennas, freqs_hz, width_hz, times_s, time_step_s, centre_rad,
              predict=predict, field_name="nenubroker-sim", progress=progress)
    write_skymodel(Path(str(path) + ".skymodel"), sources)

    params = dict(n_antennas=n_antennas, n_times=n_times, time_step_s=time_step_s, n_subbands=n_subbands,
                  channels_per_subband=channels_per_subband, first_subband=first_subband,
                  start_time=start_time, start_time_mjd_s=float(times_s[0] - time_step_s / 2),
                  phase_centre_deg=list(phase_centre_deg), gain_amp_rms=gain_amp_rms,
                  gain_phase_rms_deg=gain_phase_rms_deg, noise_jy=noise_jy, rfi=rfi, rfi_jy=rfi_jy,
                  n_rfi_channels=n_rfi_channels, n_rfi_times=n_rfi_times, n_rows=n_rows,
                  n_channels=n_chan, freqs_hz=freqs_hz.tolist(), channel_width_hz=width_hz,
                  antennas=[a.name for a in antennas],
                  generation_s=round(time.monotonic() - t_start, 3))
    truth = Truth(
        ms=str(path),
        sources=[asdict(s) for s in sources],
        gains={a.name: {p: {"amp": float(abs(gains[i, k])),
                            "phase_deg": float(np.angle(gains[i, k], deg=True))}
                        for k, p in enumerate(("x", "y"))} for i, a in enumerate(antennas)},
        noise_jy=noise_jy, rfi_channels=[int(c) for c in rfi_channels], rfi_times=[int(t) for t in rfi_times],
        params=params, seed=seed,
        conventions={
            "visibility": ("V_pq = g_p g_q^* sum S exp(+2 pi i (ul+vm+w(n-1))/lambda), "
                           "UVW = antenna2 - antenna1"),
            "stokes": "I = (XX+YY)/2: a source of flux S puts S in XX and in YY",
            "gains": ("constant in time and frequency; phases relative to antenna 0; "
                      "XX uses x gains, YY y gains"),
            "noise": "noise_jy is the rms of real and of imaginary part of every correlation",
            "rfi": ("present but not flagged; rfi_channels persistent, "
                    "rfi_times broadband one-integration bursts"),
            "spectrum": "S(nu) = flux_jy (nu/ref_freq_hz)^spectral_index",
        },
    )
    Path(str(path) + ".truth.json").write_text(json.dumps(asdict(truth), indent=1))
    log.info("%s: %d rows written in %.1f s", path, n_rows, params["generation_s"])
    return truth


def main(argv: list[str] | None = None) -> int:
    """``python -m nenubroker.batch.generate OUT.ms [--n-antennas N ...]``: make a simulated MS."""
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("path")
    for name, default in [("n_antennas", 24), ("n_times", 60), ("n_subbands", 1),
                          ("channels_per_subband", 16), ("first_subband", 256), ("seed", 0)]:
        p.add_argument("--" + name.replace("_", "-"), type=int, default=default)
    for name, default in [("time_step_s", 8.0), ("noise_jy", 1.0), ("gain_amp_rms", 0.1),
                          ("gain_phase_rms_deg", 30.0), ("rfi_jy", 1000.0)]:
        p.add_argument("--" + name.replace("_", "-"), type=float, default=default)
    p.add_argument("--no-rfi", dest="rfi", action="store_false")
    args = vars(p.parse_args(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    truth = generate_ms(args.pop("path"), **args)
    print(f"{truth.ms}: {truth.params['n_rows']} rows, {truth.params['n_channels']} channels, "
          f"{truth.params['generation_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
