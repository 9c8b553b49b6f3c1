# The assistant's image: one image, three roles (`python -m bot serve rasa|actions|web`).
# Same install as a developer's machine (scripts/bootstrap.sh from requirements.lock).
#   docker build -t cybot .                       # trains the model into the image
#   docker build --build-arg TRAIN_MODEL=0 -t cybot .   # mount models/assistant.tar.gz instead
FROM python:3.10-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/app/.venv/bin:$PATH \
    CYBOT_VAR_DIR=/app/var

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin cybot \
    && mkdir -p /app/var /app/models && chown -R cybot:cybot /app
WORKDIR /app
USER cybot

# Dependencies first: this layer is rebuilt only when a lock changes.
COPY --chown=cybot:cybot requirements.lock requirements.in requirements-bootstrap.lock ./
COPY --chown=cybot:cybot scripts/bootstrap.sh scripts/bootstrap.sh
RUN PYTHON=/usr/local/bin/python3.10 scripts/bootstrap.sh

COPY --chown=cybot:cybot . .

ARG TRAIN_MODEL=1
RUN if [ "$TRAIN_MODEL" = 1 ]; then python -m bot train; fi

EXPOSE 8000 5005 5055 9100
CMD ["python", "-m", "bot", "serve", "web", "--host", "0.0.0.0", "--port", "8000"]
