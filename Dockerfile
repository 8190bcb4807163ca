# One image for every Townhall process: `serve` (web), `worker`, `db upgrade` (migrations).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Dependencies and the package (its models, templates and migrations ship inside it).
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app townhall

USER townhall
# Listen on every interface inside the container; the reverse proxy is the only way in.
ENV TOWNHALL_HOST=0.0.0.0 \
    TOWNHALL_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1
ENTRYPOINT ["townhall"]
CMD ["serve"]
