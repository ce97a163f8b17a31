# One image for the gateway, the worker and Flower; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies get their own layer: stub packages let pip resolve them from pyproject.toml
# alone, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN for package in events modules core workers api_gateway hookline; do \
        mkdir -p "$package" && touch "$package/__init__.py"; \
    done \
    && pip install . \
    && rm -rf events modules core workers api_gateway hookline build ./*.egg-info

COPY events ./events
COPY modules ./modules
COPY core ./core
COPY workers ./workers
COPY api_gateway ./api_gateway
COPY hookline ./hookline
RUN pip install --no-deps --force-reinstall . && rm -rf build ./*.egg-info

RUN useradd --create-home --uid 10001 hookline
USER hookline
ENV HOOKLINE_DATA_DIR=/home/hookline/.hookline

EXPOSE 8000 5555
# No `server` header: no answer names the server software (hookline.stack.gateway_command).
CMD ["uvicorn", "api_gateway.app:app", "--host", "0.0.0.0", "--port", "8000", "--no-proxy-headers", "--no-server-header"]
