# The streamproc runtime with the repository's topologies; `docker compose up` runs the word count.
# Usage: docker build -t streamproc . && docker run --rm streamproc run topologies/wordcount.py --bootstrap-servers HOST:9092
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . /app
# The runtime only: no dev extras, no embedded broker (the container talks to Apache Kafka).
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app streamproc \
    && mkdir -p /data/state \
    && chown -R streamproc /data

# A named volume mounted at /data/state starts with this ownership, so the worker can write to it.
USER streamproc
VOLUME ["/data/state"]

ENTRYPOINT ["streamproc"]
CMD ["--help"]
