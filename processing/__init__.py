"""Package processing."""
