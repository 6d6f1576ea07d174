"""The package version, in a leaf module (``env`` records it without importing the package)."""

__version__ = "0.1.0"
