# callops: one image for every role (web, worker, beat, migrate, the vendor sandbox); the
# command chooses the role (README "Deploying"; compose.yaml runs them all).
#
#   docker build -t callops .
#   docker run --env-file callops.env -p 8000:8000 callops                  # web (gunicorn)
#   docker run --env-file callops.env callops celery -A dashboard worker -n callops@%h

# --- build: the dependencies in a virtualenv; pip's caches and build files stay behind ---------
FROM python:3.12-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Only pyproject.toml: a code change does not reinstall the dependencies. The production ones
# only (no test tools); callops itself runs from its source in /app, as `make run` does.
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# --- run -----------------------------------------------------------------------------------------
FROM python:3.12-slim AS run
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=dashboard.settings \
    CALLOPS_VAR_DIR=/var/lib/callops \
    CALLOPS_LOG_FORMAT=json
RUN groupadd --system --gid 10001 callops \
    && useradd --system --uid 10001 --gid callops --home-dir /app --shell /usr/sbin/nologin callops \
    && install -d -o callops -g callops -m 0700 /var/lib/callops
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Owned by root: the callops user runs the code and cannot change it.
COPY . .
# Static files collected into the image (whitenoise serves them). The secrets settings.py
# wants are throw-away ones, in a folder removed in the same layer.
RUN CALLOPS_VAR_DIR=/tmp/build-var SECRET_KEY=build-only \
        python manage.py collectstatic --no-input --verbosity 0 \
    && rm -rf /tmp/build-var
USER callops
EXPOSE 8000
# The web role's probe; compose.yaml gives each other role its own.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD \
    python -c "import sys, urllib.request as u; sys.exit(u.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
CMD ["gunicorn", "dashboard.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4", \
     "--access-logfile", "-", "--logger-class", "dashboard.log_redaction.RedactingGunicornLogger", \
     "--no-control-socket"]
