"""WSGI entry point: gunicorn wsgi:app, flask --app wsgi ..."""

from spine_site import create_app

app = create_app()
