"""The coded-mask VO data service: app, settings, CLI and the wiring of the protocol packages."""

from vo_service._version import __version__

__all__ = ["__version__"]
