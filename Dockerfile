# Hearth server image. Build: docker build -t hearth .
FROM node:20-bookworm-slim AS web
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --system --home /var/lib/hearth --create-home hearth
WORKDIR /app
COPY pyproject.toml README.md ./
COPY server server
COPY signaling signaling
COPY rooms rooms
COPY media media
COPY certs certs
COPY web web
COPY --from=web /src/node_modules node_modules
RUN pip install --no-cache-dir . && python -c "import server.app"
USER hearth
ENV HEARTH_HOST=0.0.0.0 HEARTH_DATA_DIR=/var/lib/hearth
EXPOSE 8443/tcp
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import ssl,urllib.request as u; u.urlopen('https://127.0.0.1:8443/healthz', context=ssl._create_unverified_context(), timeout=2)"
CMD ["hearth", "serve"]
