# Keras/TensorFlow (CPU) trial image. Training code is never baked in: the project is mounted read-only.
# On a normal host the base is python:3.11-slim; without a registry, scripts/bootstrap-base-image
# builds a Debian bookworm base locally and the build passes it as BASE_IMAGE.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    MPLBACKEND=Agg \
    HOME=/tmp \
    TF_CPP_MIN_LOG_LEVEL=2

# The requirements layer comes first: it changes rarely and is cached.
COPY requirements.txt /tmp/requirements.txt
# Bytecode is compiled here, once: trial containers have a read-only root file system, so without it every
# trial would compile scikit-learn / TensorFlow again at import (seconds per trial).
RUN python3 -m venv /opt/venv \
    && pip install --no-compile -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt \
    && python -m compileall -q -j 0 /opt/venv/lib > /dev/null \
    && useradd --uid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin mlops

USER 10001
WORKDIR /tmp
LABEL org.opencontainers.image.title="mlops Keras/TensorFlow trial image" mlops.kind="dl"
