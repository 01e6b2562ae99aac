"""dev.py serve's settings: the links in development emails point at the port it serves on.

The function is imported from dev.py itself; no server is started here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from spine_site.mail import outbox
from tests.factories import make_lead

ROOT = Path(__file__).resolve().parent.parent


def load_dev() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dev_script", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dev = load_dev()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http://127.0.0.1:5000"),
        ({"PORT": "5099"}, "http://127.0.0.1:5099"),
        ({"HOST": "localhost", "PORT": "5099"}, "http://localhost:5099"),
        # A wildcard listens everywhere but is no address to open: the loopback stands in.
        ({"HOST": "0.0.0.0", "PORT": "8000"}, "http://127.0.0.1:8000"),
        ({"HOST": "::", "PORT": "8000"}, "http://127.0.0.1:8000"),
        ({"HOST": "::1", "PORT": "8000"}, "http://[::1]:8000"),
        ({"SITE_URL": "https://clinic.example", "PORT": "5099"}, "https://clinic.example"),
    ],
)
def test_site_url_follows_host_and_port_unless_set(env, expected):
    assert dev.site_url(env) == expected


def test_a_site_url_in_the_env_file_is_noticed(tmp_path):
    env_file = tmp_path / ".env"
    assert not dev.file_sets(env_file, "SITE_URL")  # no file at all
    env_file.write_text('SECRET_KEY="x"\n# SITE_URL=http://old\nMY_SITE_URL=x\n')
    assert not dev.file_sets(env_file, "SITE_URL")
    env_file.write_text('SECRET_KEY="x"\nexport SITE_URL="http://localhost:5099"\n')
    assert dev.file_sets(env_file, "SITE_URL")


def test_a_written_mail_is_logged_with_its_guide_link_ready_to_open(app_factory, caplog):
    caplog.set_level("INFO", logger="spine_site.mail.outbox")
    app = app_factory(SITE_URL=dev.site_url({"PORT": "5099"}))
    make_lead(app, "guide")
    with app.app_context():
        assert outbox.deliver_due() == 1
    lines = [r.getMessage() for r in caplog.records]
    assert any(
        line.startswith("Mail written: ")
        and line.endswith(".eml (subject: Your free guide from Valor Spine)")
        for line in lines
    )
    assert any(
        line.strip().startswith("Open: http://127.0.0.1:5099/guide/download/") for line in lines
    )
