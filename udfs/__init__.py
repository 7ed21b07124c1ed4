"""Science modules: pure functions on numpy/pandas that the broker applies to the stream."""
