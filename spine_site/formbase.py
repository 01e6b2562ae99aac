"""The base of every form here: it reads only real form bodies."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto


class PostForm(FlaskForm):
    """A FlaskForm that never takes its data from a JSON body.

    Flask-WTF would fill a form from JSON, where a list body or a number in a field crashes
    WTForms' filters. Browsers send forms url-encoded or multipart; anything else is an
    empty submission, answered like any other incomplete form.
    """

    class Meta:
        def wrap_formdata(self, form: Any, formdata: Any) -> Any:
            if formdata is _Auto:
                if request.method not in {"POST", "PUT", "PATCH", "DELETE"}:
                    return None
                return request.form
            return formdata
