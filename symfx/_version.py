"""The package version. Imports nothing, so any module can read it without importing upward."""
__version__ = "0.1.0"
