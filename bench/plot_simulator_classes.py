"""One simulated dynamic spectrum over NenuFAR's whole band (10-85 MHz) with every class the simulator
draws, to check by eye that each looks like its textbook examples (edge/sim/README.md).

Six minutes of one beam at 12 kHz x 84 ms (fftlen 16, nfft2int 1024). A type I storm, a type IV and
a type II are cut short to fit; their shapes are the simulator's. Events are placed by hand (random
draws would overlap), with their fine structure from fixed seeds; persistent RFI and a lost block
come from the simulator itself. S/N are higher than the defaults so that each class shows at the
plot's binning.

Run: ``.venv/bin/python bench/plot_simulator_classes.py`` -> bench/results/simulator_classes.png
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
T0 = 1.7e9


def classes_events(beam: str) -> list:
    """Every class once, laid out over six minutes (seconds after T0 in the comments)."""
    from nenubroker.edge.sim import solar
    from nenubroker.edge.sim.draws import random_event
    from nenubroker.edge.sim.events import InjectedEvent, type_iii_decay_s, type_iii_drift_hz_per_s

    def t3(at: float, f0: float, snr: float, harmonic: bool = False) -> list[InjectedEvent]:
        fundamental = InjectedEvent("type_iii", beam, T0 + at, f0, snr, duration_s=float(type_iii_decay_s(f0)),
                                    freq_stop_hz=10e6, drift_hz_per_s=float(type_iii_drift_hz_per_s(f0)),
                                    circular_polarisation=0.35)
        if not harmonic:
            return [fundamental]
        return [fundamental, replace(fundamental, freq_start_hz=2 * f0, harmonic=2, snr=0.5 * snr,
                                     drift_hz_per_s=2 * fundamental.drift_hz_per_s, circular_polarisation=0.1)]

    rng = np.random.default_rng(11)  # spikes, S-bursts and striae drawn as the simulator draws them
    u = InjectedEvent("type_iii_u", beam, T0 + 112, 80e6, 10.0, duration_s=float(type_iii_decay_s(80e6)),
                      freq_stop_hz=30e6, freq_end_hz=62e6, speed_km_s=0.15 * solar.SPEED_OF_LIGHT_KM_S,
                      density_fold=2.0, seed=5, circular_polarisation=0.3)
    j = InjectedEvent("type_iii_j", beam, T0 + 124, 72e6, 10.0, duration_s=float(type_iii_decay_s(72e6)),
                      freq_stop_hz=34e6, speed_km_s=0.2 * solar.SPEED_OF_LIGHT_KM_S, density_fold=2.0, seed=6,
                      circular_polarisation=0.3)
    type_ii = InjectedEvent("type_ii", beam, T0 + 215, 42e6, 8.0, duration_s=150.0, speed_km_s=900.0,
                            density_fold=2.0, harmonic_ratio=1.95, band_split=0.2, relative_bandwidth=0.05,
                            burst_rate_per_s=1.5, seed=3, circular_polarisation=0.05)
    events = [
        # 0-100: a type I storm at the top of the band, a Jupiter L arc at the bottom, a spike cluster
        InjectedEvent("type_i", beam, T0, 85e6, 8.0, duration_s=100.0, freq_stop_hz=52e6, burst_rate_per_s=4.0,
                      continuum_level=0.15, seed=1, circular_polarisation=0.9),
        InjectedEvent("jupiter_l", beam, T0 + 8, 36e6, 8.0, duration_s=45.0, freq_stop_hz=13e6, arc_delay_s=40.0,
                      burst_rate_per_s=2.5, modulation_drift_hz_per_s=-150e3, modulation_period_s=2.0,
                      modulation_depth=0.8, seed=2, circular_polarisation=0.95),
        *random_event("spike", rng, beam, T0 + 40, 44e6, 47e6, 20.0),
        # 100-140: Jupiter S-bursts, then a U and a J burst
        *random_event("jupiter_s", rng, beam, T0 + 103, 24e6, 39e6, 20.0),
        replace(u, drift_hz_per_s=float(solar.loop_drift_hz_per_s(u, u.time_start_unix_s))),
        replace(j, drift_hz_per_s=float(solar.loop_drift_hz_per_s(j, j.time_start_unix_s))),
        # 140-240: a type III group (one with its harmonic), its type V, a type IIIb chain
        *t3(142, 42e6, 10.0, harmonic=True), *t3(147, 70e6, 8.0),
        InjectedEvent("type_v", beam, T0 + 152, 45e6, 3.0, duration_s=90.0, freq_stop_hz=10e6,
                      circular_polarisation=-0.1),
        *random_event("type_iiib", rng, beam, T0 + 190, 40e6, 58e6, 10.0),
        # 215-365: a type II with both lanes band-split and herringbones; a stationary type IV with pulsations
        replace(type_ii, freq_stop_hz=float(solar.type_ii_plasma_hz(type_ii, T0 + 365)),
                drift_hz_per_s=float(solar.type_ii_drift_hz_per_s(type_ii, T0 + 215))),
        InjectedEvent("type_iv", beam, T0 + 235, 95e6, 5.0, duration_s=300.0, freq_stop_hz=34e6,
                      modulation_period_s=3.0, modulation_depth=0.3, seed=4, circular_polarisation=0.8),
        # RFI: broadband impulses
        *[InjectedEvent("rfi_impulse", beam, T0 + at, 85e6, 10.0, duration_s=0.0, freq_stop_hz=10e6)
          for at in (95.3, 205.1, 300.7)],
    ]
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "simulator_classes.png")
    args = parser.parse_args()
    from nenubroker.conf.settings import SimulatorSettings
    from nenubroker.edge.sim.simulator import BeamSimulator
    from nenubroker.plots.spectra import plot_dynamic_spectrum

    settings = SimulatorSettings(realtime=False, fftlen=16, nfft2int=1024, first_subband=51, n_subbands=385,
                                 block_spectra=64, event_rates_per_min={}, persistent_rfi_channels=3,
                                 lost_block_fraction=0.02, seed=5)  # seed 5: one lost block, at 285 s
    sim = BeamSimulator("beam0", settings, start_unix_s=T0)
    for event in classes_events("beam0"):
        sim.inject(event)
    blocks, truth = [], []
    while sim.block_index * sim.block_duration_s < 366:
        block, started = sim.next_block()
        blocks.append(block)
        truth += started
    path = plot_dynamic_spectrum(blocks, truth, args.output, background=sim.background,
                                 title="Every simulated class, NenuFAR 10-85 MHz (12 kHz x 84 ms, shown at "
                                       "0.25 s x 98 kHz)")
    print(f"wrote {path} ({len(truth)} truth entries, kinds: {sorted({e.kind for e in truth})})")


if __name__ == "__main__":
    main()
