FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 POSTCARD_VAR_DIR=/var/lib/postcard
WORKDIR /app

COPY pyproject.toml constraints.txt ./
COPY crm ./crm
COPY mailsync ./mailsync
COPY calendars ./calendars
COPY hierarchy ./hierarchy
RUN pip install --no-cache-dir -c constraints.txt .

COPY . .
# collectstatic needs settings to load; these throwaway values never reach a running container.
RUN DEBUG=0 SECRET_KEY=build-only-secret-key-never-used-by-a-running-container-0123456789 \
    FIELD_ENCRYPTION_KEYS=YnVpbGQtb25seS1rZXktYnVpbGQtb25seS1rZXktMDA= \
    python manage.py collectstatic --no-input -v 0 \
 && useradd --system --home /var/lib/postcard postcard \
 && mkdir -p /var/lib/postcard && chown postcard /var/lib/postcard
USER postcard

EXPOSE 8000
CMD ["gunicorn", "crm.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
