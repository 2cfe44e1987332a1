# The application image of the production shape (see docker-compose.yml). One image serves three
# roles: the web server (default CMD), `python manage.py migrate` and `python manage.py runconsumer`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so that code changes do not reinstall them. Every pin has a binary wheel
# for CPython 3.11 on linux amd64 and arm64, so no compiler is needed.
COPY requirements.txt .
RUN pip install -r requirements.txt

# The code stays owned by root and read-only for the user that runs it.
COPY . .

ENV DJANGO_SETTINGS_MODULE=adsite.settings \
    STATIC_ROOT=/app/staticfiles

# Settings import without a database or a broker, so the static files (admin, DRF) are collected
# at build time; WhiteNoise serves them from STATIC_ROOT. With DEBUG off the settings refuse to
# load without SECRET_KEY; collectstatic signs nothing, so it gets a throwaway key for this one
# command (not stored in the image: set the real one when the container runs).
RUN SECRET_KEY=collectstatic-at-build-time-only-a-throwaway-key-that-signs-nothing python manage.py collectstatic --no-input

RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app
USER 10001:10001

EXPOSE 8000

# The web server runs behind nginx (docker-compose.yml, deploy/nginx/adstats.conf.template), which
# reads every request completely (header and body timeouts of 10 s) before passing it on: a
# client that sends slowly or not at all holds an nginx connection, never one of these threads
# (issue 7: straight to gunicorn, 30 stalled request bodies held all 12 threads). Do not publish
# this port without nginx in front.
# gthread: 3 workers x 4 threads. Threads help here: a request to the to-be API waits up to
# KAFKA_PUBLISH_TIMEOUT_SECONDS for the broker's acknowledgement.
# --preload imports Django once in the master before forking: safe, because the Kafka producer
# (impressions/publisher.py) is created lazily and again in each worker after the fork.
# --keep-alive 5: longer than nginx's upstream keepalive_timeout (4 s), so gunicorn never closes
# a kept-alive connection just as nginx sends a request on it. /dev/shm keeps the worker
# heartbeat off the overlay filesystem; the control socket (gunicornc) is off: it would live
# under $HOME, which is read-only here.
# -c adsite/gunicorn_conf.py: Prometheus' multiprocess mode (a private folder in /dev/shm,
# removed on exit; each exited worker marked dead), so /metrics adds up all workers.
CMD ["gunicorn", "adsite.wsgi", \
     "--config", "adsite/gunicorn_conf.py", \
     "--bind", "0.0.0.0:8000", \
     "--worker-class", "gthread", \
     "--workers", "3", \
     "--threads", "4", \
     "--preload", \
     "--timeout", "30", \
     "--graceful-timeout", "25", \
     "--keep-alive", "5", \
     "--worker-tmp-dir", "/dev/shm", \
     "--no-control-socket", \
     "--access-logfile", "-"]
