"""What a real receiver adds to the simulated sky: bandpass ripple and tilt, a drifting background,
gain steps, flickering narrowband RFI lines and log-scale digit quantisation.

The numbers behind the defaults of ``ReceiverSettings.e_callisto_bir()`` and of the tables here were
measured on the real e-CALLISTO file tests/data/callisto/BIR_20110607_062400_10.fit.gz (edge/sim/README.md,
"Receiver effects"). Everything is off by default, and then :class:`Receiver` draws nothing: the
simulator's own random stream, and so every existing seed, is untouched. The receiver draws from
its own streams, one per effect, each in time order, so its output depends on the seed, the beam
and the time only, not on how time is cut into blocks.

>>> from nenubroker.conf.settings import ReceiverSettings
>>> freq_hz = np.linspace(20e6, 58e6, 512)
>>> receiver = Receiver(ReceiverSettings(bandpass_ripple_db=1.0), freq_hz, np.random.SeedSequence(1), 0.0)
>>> round(float(receiver.bandpass_db.std()), 6)
1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from nenubroker.conf.settings import ReceiverSettings

#: Knots of the ripple and of the drift across frequency: both decorrelate over 2-4 MHz in the real file.
FREQ_KNOT_HZ = 2e6
#: Knots of the drift in time: smooth over a minute, so a detection chunk (5-16 s) sees a slow slope.
DRIFT_KNOT_S = 60.0
#: The drift forgets its past over this time (mean-reverting): it wanders, never runs away.
DRIFT_CORRELATION_S = 3600.0
#: RFI lines switch on and off per cell of this length: the real file's time resolution.
LINE_CELL_S = 0.25
#: The e-CALLISTO resolution bandwidth the line levels were measured in.
CALLISTO_RBW_HZ = 300e3
#: Occupied bandwidth of a line, log-uniform (assumed: voice and data transmitters; e-CALLISTO cannot resolve it).
LINE_WIDTH_HZ = (1e3, 20e3)
#: The 27 lines of the real file (quiet 0-110 s and 780-900 s): duty cycle, mean length of an "on"
#: run (s; inf: never off) and median level while on, dB over the neighbouring channels in a 300 kHz
#: channel. A simulated line takes one row at random.
MEASURED_LINES: tuple[tuple[float, float, float], ...] = (
    (1.00, math.inf, 5.4), (0.17, 0.83, 2.3), (0.14, 0.28, 1.5), (1.00, math.inf, 3.1), (0.55, 0.92, 1.9),
    (0.86, 2.70, 3.1), (0.07, 0.72, 1.9), (0.81, 1.98, 2.7), (0.65, 1.02, 1.9), (0.35, 0.41, 1.5),
    (0.48, 0.58, 1.5), (0.41, 1.80, 1.9), (0.98, 13.25, 2.7), (0.21, 0.48, 1.5), (0.06, 0.28, 1.5),
    (0.05, 0.27, 1.9), (0.92, 3.86, 1.9), (0.93, 4.19, 1.9), (0.57, 1.23, 1.9), (0.93, 4.28, 2.3),
    (0.13, 0.46, 1.5), (0.99, 17.46, 2.3), (1.00, math.inf, 3.9), (0.89, 3.92, 2.3), (0.12, 0.32, 1.5),
    (0.29, 0.68, 1.5), (1.00, math.inf, 4.6))
_DB_TO_LN = math.log(10) / 10


@dataclass(frozen=True)
class RfiLine:
    """A narrowband transmitter: ``channels`` (indices) ``excess`` × the background up while on.

    ``excess`` spreads the power the real file's 300 kHz channel saw over ``width_hz``; the line is on
    a fraction ``duty_cycle`` of the time, in runs of ``mean_on_s`` on average.
    """

    freq_hz: float
    width_hz: float
    channels: np.ndarray
    excess: float
    duty_cycle: float
    mean_on_s: float


def _smoothstep(fraction: np.ndarray) -> np.ndarray:
    """Cosine weight of the next knot: no kinks at the knots."""
    return 0.5 - 0.5 * np.cos(np.pi * fraction)


class Receiver:
    """The receiver of one simulated beam (module docstring); ``seed`` gives its random streams."""

    def __init__(self, settings: ReceiverSettings, freq_hz: np.ndarray, seed: np.random.SeedSequence,
                 start_unix_s: float):
        self.settings = settings
        self.start_unix_s = start_unix_s
        freq_hz = np.asarray(freq_hz, dtype=float)
        bandpass_rng, drift_rng, step_rng, line_rng = (np.random.default_rng(s) for s in seed.spawn(4))
        first_knot = math.floor(freq_hz.min() / FREQ_KNOT_HZ)
        position = freq_hz / FREQ_KNOT_HZ - first_knot
        self._knot = np.minimum(position.astype(int), int(position.max()))  # channel -> knot on its left
        weight = _smoothstep(position - self._knot)
        norm = np.sqrt((1 - weight) ** 2 + weight**2)  # every channel varies as much as a knot
        self._weights = (1 - weight) / norm, weight / norm
        self._n_freq_knots = int(self._knot.max()) + 2
        self.bandpass_db = self._bandpass_db(bandpass_rng, freq_hz)
        self._drift_rng = drift_rng
        self._drift_sigma = settings.background_drift_fraction / math.sqrt(
            2 * (1 - math.exp(-3600.0 / DRIFT_CORRELATION_S)))  # rms change over 1 h = the fraction
        self._drift_knots = np.zeros((1, self._n_freq_knots))  # the level starts where the sky puts it
        self._step_rng = step_rng
        self.gain_steps: list[tuple[float, float]] = []
        self._next_step_s = start_unix_s + self._step_wait_s()
        channel_width_hz = float(np.median(np.abs(np.diff(freq_hz)))) if freq_hz.size > 1 else 1.0
        self.lines = self._draw_lines(line_rng, freq_hz, channel_width_hz)
        self._line_rng = line_rng
        self._cells = np.zeros((0, len(self.lines)), dtype=bool)
        self._first_cell = 0

    @property
    def gain_varies(self) -> bool:
        """Whether the receiver multiplies the power by anything but 1."""
        s = self.settings
        return bool(s.bandpass_ripple_db or s.bandpass_tilt_db or s.background_drift_fraction or s.gain_steps_per_hour)

    def _bandpass_db(self, rng: np.random.Generator, freq_hz: np.ndarray) -> np.ndarray:
        """Tilt (linear, ``bandpass_tilt_db`` end to end) plus a ripple of exactly ``bandpass_ripple_db`` rms."""
        span = float(np.ptp(freq_hz)) or 1.0
        tilt = self.settings.bandpass_tilt_db * ((freq_hz - freq_hz.min()) / span - 0.5)
        if not self.settings.bandpass_ripple_db:
            return tilt
        ripple = self._across_band(rng.standard_normal(self._n_freq_knots)[None, :])[0]
        ripple -= ripple.mean()
        rms = float(np.sqrt(np.mean(ripple**2)))
        return tilt + (self.settings.bandpass_ripple_db / rms * ripple if rms > 0 else 0.0)

    def _across_band(self, knots: np.ndarray) -> np.ndarray:
        """(n, n_freq_knots) knot values -> (n, n_freq), smooth between the 2 MHz knots."""
        return knots[:, self._knot] * self._weights[0] + knots[:, self._knot + 1] * self._weights[1]

    def _step_wait_s(self) -> float:
        rate_per_s = self.settings.gain_steps_per_hour / 3600.0
        return float(self._step_rng.exponential(1 / rate_per_s)) if rate_per_s > 0 else math.inf

    def _draw_lines(self, rng: np.random.Generator, freq_hz: np.ndarray,
                    channel_width_hz: float) -> tuple[RfiLine, ...]:
        lines = []
        for _ in range(self.settings.rfi_lines):
            centre_hz = float(rng.uniform(freq_hz.min(), freq_hz.max()))
            width_hz = float(np.exp(rng.uniform(*np.log(LINE_WIDTH_HZ))))
            duty, mean_on_s, level_db = MEASURED_LINES[int(rng.integers(len(MEASURED_LINES)))]
            channels = np.flatnonzero(np.abs(freq_hz - centre_hz) <= max(width_hz, channel_width_hz) / 2)
            if channels.size == 0:
                channels = np.array([int(np.argmin(np.abs(freq_hz - centre_hz)))])
            excess = (10 ** (level_db / 10) - 1) * CALLISTO_RBW_HZ / max(width_hz, channel_width_hz)
            lines.append(RfiLine(centre_hz, width_hz, channels, excess, duty, mean_on_s))
        return tuple(lines)

    def drift_ln(self, times_unix_s: np.ndarray) -> np.ndarray:
        """(n_time, n_freq) natural log of the background's drift: an AR(1) walk on knots every 60 s
        and 2 MHz, mean-reverting over an hour, smooth in between. Times ascending (a block's)."""
        knot_s = (np.asarray(times_unix_s) - self.start_unix_s) / DRIFT_KNOT_S
        needed = int(math.floor(float(knot_s.max()))) + 2
        if needed > self._drift_knots.shape[0]:
            rho = math.exp(-DRIFT_KNOT_S / DRIFT_CORRELATION_S)
            kicks = self._drift_rng.standard_normal((needed - self._drift_knots.shape[0], self._n_freq_knots))
            new, _ = lfilter([self._drift_sigma * math.sqrt(1 - rho**2)], [1.0, -rho], kicks, axis=0,
                             zi=rho * self._drift_knots[-1:])
            self._drift_knots = np.vstack([self._drift_knots, new])
        knot = np.floor(knot_s).astype(int)
        weight = _smoothstep(knot_s - knot).astype(np.float32)[:, None]
        drift = np.empty((knot.size, self._knot.size), dtype=np.float32)
        for j in np.unique(knot):  # a block spans one or two knot intervals: two rows across the band each
            this, following = self._across_band(self._drift_knots[j:j + 2]).astype(np.float32)
            rows = slice(*np.searchsorted(knot, [j, j + 1]))
            np.multiply(weight[rows], following - this, out=drift[rows])
            drift[rows] += this
        return drift

    def steps_db(self, times_unix_s: np.ndarray) -> np.ndarray:
        """(n_time,) the sum of the gain steps at or before each time (dB); draws steps up to the last time."""
        times = np.asarray(times_unix_s, dtype=float)
        while self._next_step_s <= times.max():
            low, high = self.settings.gain_step_db
            step_db = float(self._step_rng.uniform(low, high)) * (1 if self._step_rng.random() < 0.5 else -1)
            self.gain_steps.append((self._next_step_s, step_db))
            self._next_step_s += self._step_wait_s()
        if not self.gain_steps:
            return np.zeros(times.size)
        at_s, step_db = np.array(self.gain_steps).T
        before = np.searchsorted(at_s, times, side="right")
        return np.where(before > 0, np.cumsum(step_db)[before - 1], 0.0)

    def line_on(self, times_unix_s: np.ndarray) -> np.ndarray:
        """(n_time, n_lines) bool: each line's state, a two-state Markov chain over 0.25 s cells with
        the line's duty cycle and mean run length. Times must not go back before earlier calls' cells."""
        cells = np.floor((np.asarray(times_unix_s) - self.start_unix_s) / LINE_CELL_S).astype(int)
        duty = np.array([line.duty_cycle for line in self.lines])
        switch_off = np.minimum(1.0, LINE_CELL_S / np.array([line.mean_on_s for line in self.lines]))
        with np.errstate(divide="ignore", invalid="ignore"):
            switch_on = np.where(duty < 1, np.minimum(1.0, switch_off * duty / (1 - duty)), 1.0)
        if self._cells.shape[0] == 0:
            self._cells = (self._line_rng.random(len(self.lines)) < duty)[None, :]
        last = self._first_cell + self._cells.shape[0] - 1
        new = []
        state = self._cells[-1]
        for _ in range(last, int(cells.max())):
            draw = self._line_rng.random(len(self.lines))
            state = np.where(state, draw >= switch_off, draw < switch_on)
            new.append(state)
        if new:
            self._cells = np.vstack([self._cells, new])
        keep = int(cells.min()) - self._first_cell  # the simulator never asks for earlier cells again
        self._cells, self._first_cell = self._cells[keep:], self._first_cell + keep
        return self._cells[cells - self._first_cell]

    def add_line_power(self, power: np.ndarray, times_unix_s: np.ndarray, background: np.ndarray) -> None:
        """Add the lines that are on to ``power`` (n_time, n_freq), in place, before the noise is drawn."""
        if not self.lines:
            return
        on = self.line_on(times_unix_s)
        for k, line in enumerate(self.lines):
            power[:, line.channels] += (on[:, k, None] * np.float32(line.excess)) * background[line.channels]

    def apply(self, data: np.ndarray, times_unix_s: np.ndarray) -> None:
        """Receiver gain × ``data`` (n_time, n_freq) measured power, then quantisation; in place."""
        gain_ln = None
        if self.gain_varies:
            gain_ln = (self.drift_ln(times_unix_s) if self.settings.background_drift_fraction
                       else np.zeros(data.shape, dtype=np.float32))
            gain_ln += (self.bandpass_db * _DB_TO_LN).astype(np.float32)
            gain_ln += (self.steps_db(times_unix_s) * _DB_TO_LN).astype(np.float32)[:, None]
        if self.settings.quantisation == "log_digits":
            quantise_log_digits(data, self.settings.db_per_digit, gain_ln)
        elif gain_ln is not None:
            data *= np.exp(gain_ln)


def quantise_log_digits(data: np.ndarray, db_per_digit: float, gain_ln: np.ndarray | None = None) -> None:
    """Round power (times exp(``gain_ln``) if given) onto 10^(n × db_per_digit / 10), n integer, power 1
    being digit 0, in place: what a log detector read by an ADC gives. NaN stays NaN. Natural log and
    exp, one pass each, keep it cheap."""
    step_ln = np.float32(db_per_digit * _DB_TO_LN)
    with np.errstate(divide="ignore", invalid="ignore"):
        level = np.log(data)
    if gain_ln is not None:
        level += gain_ln
    level *= 1 / step_ln
    np.rint(level, out=level)
    level *= step_ln
    np.exp(level, out=data)


__all__ = ["CALLISTO_RBW_HZ", "DRIFT_CORRELATION_S", "DRIFT_KNOT_S", "FREQ_KNOT_HZ", "LINE_CELL_S", "LINE_WIDTH_HZ",
           "MEASURED_LINES", "Receiver", "RfiLine", "quantise_log_digits"]
