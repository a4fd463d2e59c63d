"""Package registry."""
