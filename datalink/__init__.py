"""Package datalink."""
