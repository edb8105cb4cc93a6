"""simkit test suite (a regular package: a test dependency ships a top-level ``tests``)."""
