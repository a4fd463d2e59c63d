"""The coded-mask VO data service: app, settings, CLI and the wiring of the protocol packages."""

from vo_service import _astguard
from vo_service._version import __version__

# Before anything starts threads: CPython 3.11.7 and older can fail ``ast.parse`` when two
# threads parse at once (a traceback formatted in one, werkzeug compiling routes in another).
_astguard.install()

__all__ = ["__version__"]
