"""The base of every form here: it reads only real form bodies."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict

# Stands for "read the request", as opposed to an explicit formdata (None: an empty form).
_FROM_REQUEST: Any = object()


class PostForm(FlaskForm):
    """A FlaskForm that never takes its data from a JSON body.

    Flask-WTF would fill a form from JSON, where a list body or a number in a field crashes
    WTForms' filters. Browsers send forms url-encoded or multipart; anything else is an
    empty submission, answered like any other incomplete form. The form body is handed to
    FlaskForm explicitly, so none of its request-reading is used.
    """

    def __init__(self, formdata: Any = _FROM_REQUEST, **kwargs: Any) -> None:
        if formdata is _FROM_REQUEST:
            formdata = _submitted_form()
        super().__init__(formdata=formdata, **kwargs)


def _submitted_form() -> Any:
    if request.method not in {"POST", "PUT", "PATCH", "DELETE"}:
        return None
    if request.files:
        return CombinedMultiDict((request.files, request.form))
    return request.form
