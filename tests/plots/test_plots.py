"""Each quick-look writes a non-empty PNG of the size its figure asks for. No Spark, no Kafka."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from matplotlib.image import imread

from nenubroker.conf.settings import SimulatorSettings
from nenubroker.edge.sim.simulator import BeamSimulator
from nenubroker.plots import cube, cutout, figure, spectra
from nenubroker.plots.cube import cube_png
from nenubroker.plots.cutout import plot_cutout
from nenubroker.plots.spectra import plot_chunks, plot_dynamic_spectrum
from nenubroker.records.chunk import SpectraChunk

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
T0 = 1.7e9


def png_shape(path: Path) -> tuple[int, int]:
    """(height, width) in pixels of a PNG that is not blank."""
    assert path.read_bytes()[:8] == PNG_MAGIC
    pixels = imread(path)
    assert pixels[..., :3].std() > 0.01
    return pixels.shape[0], pixels.shape[1]


def noise_chunk(index: int, n_time: int = 64, n_freq: int = 48) -> SpectraChunk:
    data = np.random.default_rng(index).normal(1.0, 0.1, (n_time, n_freq)).astype(np.float32)
    return SpectraChunk(beam="beam0", chunk_index=index, time_start_unix_s=T0 + index * n_time * 0.01,
                        time_step_s=0.01, freq_hz=np.linspace(30e6, 60e6, n_freq), data=data)


def test_dynamic_spectrum_is_1320_by_715_pixels(tmp_path: Path):
    block, truth = BeamSimulator("b", SimulatorSettings(n_subbands=8), T0).next_block()
    path = plot_dynamic_spectrum(block, truth, tmp_path / "ds.png")
    assert png_shape(path) == (715, 1320)  # 12 x 6.5 in at 110 dpi


def test_chunks_plot_is_one_320_pixel_panel_per_chunk(tmp_path: Path):
    chunks = [noise_chunk(i) for i in range(3)]
    candidates = pd.DataFrame({"chunk_row": [1], "time_start_unix_s": [chunks[1].time_start_unix_s + 0.1],
                               "duration_s": [0.2], "freq_min_hz": [40e6], "freq_max_hz": [50e6],
                               "snr": [12.0], "class_label": ["spike"]})
    path = plot_chunks(chunks, candidates, "class_label", tmp_path / "sub" / "module-test.png")
    assert png_shape(path) == (400, 960)  # 3 panels of 3.2 x 4 in at 100 dpi
    assert png_shape(plot_chunks(chunks[:1], candidates.iloc[:0], None, tmp_path / "none.png")) == (400, 320)


def test_cutout_plot_is_550_by_450_pixels(tmp_path: Path):
    alert = {"alert_id": "a", "beam": "beam0", "snr": 9.5, "class_label": None, "time_peak_unix_s": T0 + 1,
             "time_start_unix_s": T0, "duration_s": 2.0, "freq_min_hz": 30e6, "freq_max_hz": 50e6,
             "cutout": np.random.default_rng(0).normal(size=32 * 32).astype("<f4").tobytes()}
    path = tmp_path / "cutout.png"
    shown = plot_cutout(alert, path)
    assert png_shape(path) == (450, 550)  # 5.5 x 4.5 in at 100 dpi
    assert "unclassified" in shown.axes[0].get_title()


def test_cube_plot_has_one_panel_per_time_and_frequency(tmp_path: Path):
    header = fits.Header({
        "CTYPE1": "RA---SIN", "CUNIT1": "deg", "CRPIX1": 8.0, "CRVAL1": 83.6, "CDELT1": -0.5,
        "CTYPE2": "DEC--SIN", "CUNIT2": "deg", "CRPIX2": 8.0, "CRVAL2": 22.0, "CDELT2": 0.5,
        "CTYPE3": "FREQ", "CUNIT3": "Hz", "CRPIX3": 1.0, "CRVAL3": 50e6, "CDELT3": 1e6,
        "CTYPE4": "TIME", "CUNIT4": "s", "CRPIX4": 1.0, "CRVAL4": 0.0, "CDELT4": 10.0,
        "TIMESYS": "UTC", "MJDREF": 60431.5, "DATEREF": "2024-05-01T12:00:00", "BUNIT": "JY/BEAM"})
    data = np.random.default_rng(1).normal(size=(3, 2, 16, 16)).astype(np.float32)  # time, freq, dec, ra
    fits.PrimaryHDU(data, header).writeto(tmp_path / "cube.fits")
    path = cube_png(tmp_path / "cube.fits")
    assert path == tmp_path / "cube.png"
    assert png_shape(path) == (648, 486)  # (2.2 x 2 + 1) x (2.2 x 3 + 0.6) in at 90 dpi


def test_colour_limits_ignore_nan_and_fall_back_when_nothing_is_finite():
    assert figure.colour_limits(np.array([np.nan, 1.0, 3.0]), (0, 100), empty=(0.0, 1.0)) == (1.0, 3.0)
    assert figure.colour_limits(np.full(4, np.nan), (1, 99), empty=(-1.0, 1.0)) == (-1.0, 1.0)


@pytest.mark.parametrize("module", [cube, cutout, figure, spectra])
def test_public_names_exist(module):
    assert all(hasattr(module, name) for name in module.__all__), module.__name__
