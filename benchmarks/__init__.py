"""Benchmarks of the posting kernel (not tests: run them with `pytest benchmarks` or
`python -m benchmarks.run`; the normal test run collects only tests/)."""
