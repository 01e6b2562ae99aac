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
# The longest honest request is a full leads export as a workbook: 24 s at 100,000 leads on
# this kind of machine (docs/benchmarks.md), so 60 s leaves room for a busy host.
timeout = 60
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
# turn it on; its lines then pass through the same redaction as the app's own logs (link
# tokens, cookies, and every query value but the staff list's fixed filters: a staff search
# for a patient's name or phone never reaches it).
accesslog = os.environ.get("ACCESS_LOG") or None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
control_socket_disable = True


class RedactingLogger(Logger):
    """gunicorn's logs with the app's redaction: access lines and error lines alike.

    The atoms are cleaned for any access_log_format an operator chooses (%(q)s is a bare
    query string); the filter on every handler catches the rest, such as the request URI
    gunicorn's error log names when a request fails.
    """

    def setup(self, cfg):  # type: ignore[no-untyped-def]
        from spine_site.ops.logs import RedactingFilter

        super().setup(cfg)  # (re)creates the handlers, also on a reload (HUP)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.addFilter(RedactingFilter())

    def atoms(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        from spine_site.ops.logs import redact, redact_query

        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f", "{referer}i", "{cookie}i"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        if isinstance(atoms.get("q"), str):
            atoms["q"] = redact_query(atoms["q"])
        return atoms


logger_class = RedactingLogger


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """Warn when each worker would keep its own rate-limit counts (memory:// storage), and
    when a key change left authenticator secrets that no key held opens (accounts/mfa.py).

    Only here are both known: the worker count gunicorn settled on (WEB_CONCURRENCY, -w or
    GUNICORN_CMD_ARGS) and the app's settings. Every worker says it: it is loud on purpose.

    Then the app's objects, loaded for good (modules, settings, SQLAlchemy's metadata), are
    moved out of the cyclic garbage collector's sight (gc.freeze): otherwise each full
    collection walks all ~200,000 of them, about 0.1 s in which that worker answers nobody
    (measured in-process: docs/benchmarks.md, issue 16). Garbage left from loading is
    collected first, so that none of it is kept for good.
    """
    import gc

    from flask import Flask

    from spine_site.accounts.mfa import warn_about_sealed_secrets
    from spine_site.web.ratelimits import warn_if_counted_per_worker

    # Only the product's app: the benches' bare anchors run under this file too.
    if isinstance(worker.wsgi, Flask) and worker.wsgi.import_name == "spine_site":
        warn_if_counted_per_worker(worker.wsgi, worker.cfg.workers)
        warn_about_sealed_secrets(worker.wsgi)
    gc.collect()
    gc.freeze()


def on_starting(server):  # type: ignore[no-untyped-def]
    """Start the metrics from zero: files from an earlier run would add to this one's."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):
            if name.endswith(".db"):
                os.remove(os.path.join(path, name))


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """A worker that exits stops counting in the live gauges of prometheus-client."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
