"""Threshold burst detector."""
