# A project's own packages (its requirements.txt / packages: in mlops.yaml) on top of its trial image.
# BASE_IMAGE is the trial image (mlops-ml:<hash> or mlops-dl:<hash>), passed by mlops. The trial image's
# own requirements are constraints: a project cannot change the version of what the image provides.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

USER root
COPY requirements.txt constraints.txt /tmp/mlops-packages/
RUN pip install --no-compile -r /tmp/mlops-packages/requirements.txt -c /tmp/mlops-packages/constraints.txt \
    && rm -rf /tmp/mlops-packages
USER 10001
LABEL org.opencontainers.image.title="mlops trial image with a project's packages"
