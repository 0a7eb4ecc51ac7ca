# Serving image: the trial image of the model's kind (scikit-learn or Keras) plus the web app.
# BASE_IMAGE is the trial image (mlops-ml:<hash> or mlops-dl:<hash>), passed by `mlops deploy`.
# The model is not baked in: the pushed model version is mounted read-only at /model.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

USER root
COPY requirements-serve.txt /tmp/requirements-serve.txt
# Bytecode compiled at build time: the root file system is read-only at run time, so without it every
# (re)start would compile scikit-learn / TensorFlow from source before the model is loaded.
RUN pip install --no-compile -r /tmp/requirements-serve.txt && rm /tmp/requirements-serve.txt \
    && python -m compileall -q -j 0 /opt/venv/lib > /dev/null
COPY serving /opt/mlops-serve/serving
# The settings' declarations (core/settings.py, standard library only), the one core module serving imports
COPY core /opt/mlops-serve/core
RUN python -m compileall -q /opt/mlops-serve > /dev/null

USER 10001
WORKDIR /tmp
ENV MLOPS_MODEL_DIR=/model PYTHONPATH=/opt/mlops-serve PYTHONDONTWRITEBYTECODE=1
EXPOSE 8000
HEALTHCHECK --interval=2s --timeout=2s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"
# One worker process per CPU the container may use (MLOPS_SERVE_WORKERS overrides); exit code 3: no model.
CMD ["python", "-m", "serving", "--host", "0.0.0.0", "--port", "8000"]
LABEL org.opencontainers.image.title="mlops model server" mlops.role="serving"
