"""Images for articles: the list to copy Markdown from, and the upload form."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.file import FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from spine_site.articles import images
from spine_site.staff.access import ACCESS, acting_user, bp
from spine_site.web import errors
from spine_site.web.forms import PostForm

# Room for the form's other fields and the multipart framing around the file.
_FORM_OVERHEAD = 64 * 1024


class ImageUploadForm(PostForm):
    # The order the error summary lists problems in (_macros/forms.html).
    field_order = ("file", "alt")

    file = FileField(
        "Image file",
        validators=[FileRequired("Choose an image file (JPEG, PNG or WebP).")],
        description="JPEG, PNG or WebP.",
        render_kw={"accept": "image/jpeg,image/png,image/webp"},
    )
    alt = StringField(
        "Alt text",
        validators=[
            DataRequired(
                "Write the alt text: what the image shows, for readers who cannot see it."
            ),
            Length(max=images.ALT_MAX, message="Keep the alt text under 300 characters."),
        ],
        description=(
            "What the image shows, in a sentence, for readers who cannot see it "
            '(e.g. "A physiatrist guiding a patient through a hip stretch").'
        ),
        render_kw={"maxlength": images.ALT_MAX},
    )


def _may_upload() -> bool:
    return current_user.is_authenticated and current_user.role in ACCESS.get(
        "staff.image_upload", frozenset()
    )


@bp.url_value_preprocessor
def allow_image_bodies(endpoint: str | None, values: object) -> None:
    """An image upload may be larger than the site's other forms (MAX_CONTENT_LENGTH).
    Runs before any before_request (the CSRF check reads the body), and only for a
    signed-in editor: anyone else keeps the small bound."""
    if endpoint == "staff.image_upload" and request.method == "POST" and _may_upload():
        request.max_content_length = current_app.config["IMAGE_MAX_BYTES"] + _FORM_OVERHEAD


@bp.errorhandler(RequestEntityTooLarge)
def upload_too_large(exc: RequestEntityTooLarge):
    """A file over the bound: the upload page again with the reason, not a bare error."""
    if request.endpoint != "staff.image_upload" or not _may_upload():
        return errors.http_error(exc)
    form = ImageUploadForm(formdata=None)
    form.file.errors = [images.too_large_message(current_app.config["IMAGE_MAX_BYTES"])]
    return _render(form, 413)


@bp.get("/images", endpoint="images")
def images_page():
    return _render(ImageUploadForm(formdata=None))


@bp.post("/images", endpoint="image_upload")
def image_upload():
    form = ImageUploadForm()
    if not form.validate_on_submit():
        return _render(form, 422)
    limit = current_app.config["IMAGE_MAX_BYTES"]
    try:
        image = images.ingest(form.file.data.read(limit + 1), form.alt.data, by=acting_user())
    except images.ImageRejected as exc:
        target = form.alt if "alt text" in str(exc) else form.file
        target.errors = [str(exc)]
        return _render(form, exc.status)
    flash(f"Image uploaded. Paste this into an article: {images.markdown_snippet(image)}")
    return redirect(url_for("staff.images"), 303)


def _render(form: ImageUploadForm, status: int = 200):
    shown = images.newest()
    return render_template(
        "staff/images.html",
        form=form,
        images=shown,
        snippets={i.id: images.markdown_snippet(i) for i in shown},
        thumbnails={i.id: images.file_name(i.digest, i.widths[0], "webp") for i in shown},
    ), status
