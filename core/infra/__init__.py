"""Where code runs: requirements, virtualenvs, the Docker engine and images. Both the training backends and
the serving units use these, so they live in the core."""
