"""nenubroker: a real-time transient broker for NenuFAR."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nenubroker")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
