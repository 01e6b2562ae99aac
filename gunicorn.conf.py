"""gunicorn settings: `gunicorn -c gunicorn.conf.py wsgi:app` (docs/deploy.md).

Every value can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import multiprocessing
import os

from gunicorn.glogging import Logger

# Behind nginx on the same host. nginx buffers slow clients, so sync workers are right:
# each request is short (a page render or one insert), and a worker per core plus one keeps
# both cores busy while one waits on the database.
bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
# A request that takes this long is stuck (the app never waits on SMTP); kill and replace it.
timeout = 30
graceful_timeout = 20
keepalive = 5
# Workers are not recycled by default: a restart costs a worker's start-up (articles,
# templates, a connection pool) in the middle of traffic. MAX_REQUESTS=20000 turns recycling
# on should a leak ever show.
max_requests = int(os.environ.get("MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
# Load the app in each worker, not before forking: each worker then opens its own database
# connections and starts its own outbox sender thread.
preload_app = False
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
errorlog = "-"
loglevel = "info"
# The access log is off by default: the app logs what operators need. Set ACCESS_LOG=- to
# turn it on; paths then pass through the same redaction as the app's own logs.
accesslog = os.environ.get("ACCESS_LOG") or None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
control_socket_disable = True


class RedactingLogger(Logger):
    """Access lines without the tokens of guide and unsubscribe links."""

    def atoms(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        from spine_site.logs import redact

        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q", "f", "{referer}i", "{cookie}i"):
            if key in atoms and isinstance(atoms[key], str):
                atoms[key] = redact(atoms[key])
        return atoms


logger_class = RedactingLogger
