"""camhub-agent: on-device person and vehicle detection for village camera hubs."""

__version__ = "0.1.0"
