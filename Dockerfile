# bsdflow: one image for api, migrate and (later) relay/worker services. See docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY pyproject.toml README.md ./
COPY domain/ domain/
COPY eventstore/ eventstore/
COPY commands/ commands/
COPY projections/ projections/
COPY read_api/ read_api/
COPY automation/ automation/
COPY infra/ infra/
COPY loadtest/ loadtest/
RUN pip install .

# Non-root; /data exists and is owned by the app user, so a named volume mounted there is writable.
RUN useradd --system --create-home --uid 10001 bsdflow \
    && mkdir -p /data \
    && chown bsdflow:bsdflow /data
USER bsdflow
ENV BSDFLOW_DATA_DIR=/data

EXPOSE 8000
CMD ["bsdflow", "up", "--host", "0.0.0.0"]
