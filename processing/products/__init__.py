"""Product descriptors: what an analysis hands back to the service (files, types, metadata)."""

from processing.products._descriptor import ProductDescriptor, ProductFile

__all__ = ["ProductDescriptor", "ProductFile"]
