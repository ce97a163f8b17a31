"""Module packages the benchmark loads (scanned like ``modules/``)."""
