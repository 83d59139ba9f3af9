"""sigsup benchmarks: each one prints its figures beside a floor measured in the same run."""
