"""Handler modules that benchmark configs point at (imported inside sigsup processes)."""
