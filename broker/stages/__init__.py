"""Streaming stages, one entry point and one checkpoint each."""
