# One image for web (uvicorn, ASGI), worker and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
RUN DJANGO_SETTINGS_MODULE=chatbot.settings.base python manage.py collectstatic --noinput -v0 \
    && useradd --create-home --uid 10001 chatdesk \
    && mkdir -p /run/prometheus && chown chatdesk /run/prometheus
USER chatdesk

EXPOSE 8000
# --lifespan off: Django has no ASGI lifespan handler (uvicorn would say so at every start).
CMD ["uvicorn", "chatbot.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers", "--lifespan", "off"]
