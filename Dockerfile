# AMX Circuits: one image for the explorer (default command) and for ingest (docker-compose.yml's
# `ingest` service). CPU-only torch wheels keep it a fraction of the CUDA build's size; the versions
# are pyproject.toml's pins. Build: docker compose build  (or: docker build -t amx-circuits:0.1.0 .)
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.9.1 torchvision==0.24.1
COPY pyproject.toml README.md ./
COPY amx_core ./amx_core
COPY amx_bench ./amx_bench
COPY cypher ./cypher
COPY ingest ./ingest
COPY explorer ./explorer
RUN pip install . \
    && useradd --create-home --uid 10001 amx
USER amx

EXPOSE 8501
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=12 \
    CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=3).status == 200 else 1)"
# Inside the container the server must listen on all interfaces; docker-compose.yml publishes the
# port on the host's 127.0.0.1 only. The store address and credentials come from the environment.
CMD ["amx-explore", "--address", "0.0.0.0", "--port", "8501"]
