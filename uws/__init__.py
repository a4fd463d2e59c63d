"""Package uws."""
