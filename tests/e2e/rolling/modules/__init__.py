"""Module packages of the rolling-deploy test (scanned like ``modules/``)."""
