"""Software version, recorded in every product and provenance document."""

__version__ = "0.1.0"
