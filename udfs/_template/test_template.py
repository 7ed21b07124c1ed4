"""Tests of the template module, on plain pandas (no Spark): copy and adapt them with the module."""

import pandas as pd

from nenubroker.udfs._template import MODULE

CANDIDATES = pd.DataFrame({"snr": [10.0, 5.0], "duration_s": [2.0, 1.0], "freq_min_hz": [30e6, 20e6],
                           "freq_max_hz": [40e6, 21e6]}, index=[7, 9])


def test_fluence_is_snr_times_duration_times_bandwidth():
    assert MODULE.run(CANDIDATES)["template_fluence"].tolist() == [200.0, 5.0]


def test_min_snr_parameter_zeroes_faint_candidates():
    assert MODULE.run(CANDIDATES, {"min_snr": 8.0})["template_fluence"].tolist() == [200.0, 0.0]


def test_output_keeps_the_candidates_index():
    assert list(MODULE.run(CANDIDATES).index) == [7, 9]
