"""mlops: a Jenkins-driven, containerized CI/CD engine for machine learning."""

__version__ = "0.1.0"
