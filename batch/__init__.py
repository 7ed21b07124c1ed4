"""Batch: partition NenuFAR Measurement Sets and flag, calibrate and image them on Spark."""
