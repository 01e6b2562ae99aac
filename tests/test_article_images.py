"""Article images: an editor uploads a phone photo and readers get files with no trace of
where it was taken or on what camera; anything that is not an image is refused by what it
is, not what it is called; articles show the image as a responsive <picture>."""

from __future__ import annotations

import struct
import zlib
from datetime import date
from io import BytesIO

import pytest
from PIL import Image, ImageCms, features
from PIL.PngImagePlugin import PngInfo
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from spine_site.articles import images
from spine_site.articles.render import ArticleSource, render_article, sanitize
from spine_site.extensions import db
from spine_site.models import ArticleImage, ArticleImageFile
from tests.html_forms import form_posting_to
from tests.support import signed_in

CAMERA_MAKE = "FotoCamMaker"
CAMERA_MODEL = "Z9000-Secret"
# Where the photo was taken: the patient's street, in a real phone photo.
GPS = {1: "N", 2: (41.0, 52.0, 30.0), 3: "W", 4: (87.0, 37.0, 40.0)}
FORBIDDEN_INFO = {"exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment", "photoshop"}
AVIF = features.check("avif")


def photo(size=(1200, 800), orientation: int | None = None, fmt: str = "JPEG") -> bytes:
    """A phone-style photo: camera make and model, GPS, a comment, XMP and an ICC profile,
    with a red block in its top-left corner as stored (before any rotation)."""
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    image.paste((255, 0, 0), (0, 0, 100, 100))
    exif = Image.Exif()
    exif[0x010F] = CAMERA_MAKE
    exif[0x0110] = CAMERA_MODEL
    if orientation:
        exif[0x0112] = orientation
    exif.get_ifd(0x8825).update(GPS)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = BytesIO()
    extra = {"comment": b"taken at home"} if fmt == "JPEG" else {}
    image.save(
        out, fmt, exif=exif, xmp=b"<x:xmpmeta>secret-xmp</x:xmpmeta>", icc_profile=icc, **extra
    )
    data = out.getvalue()
    # The fixture is what it claims: the upload does carry all of it.
    assert dict(Image.open(BytesIO(data)).getexif().get_ifd(0x8825))
    assert CAMERA_MAKE.encode() in data and b"secret-xmp" in data
    return data


def upload(client, data: bytes, alt: str = "Spine model", filename: str = "photo.jpg"):
    fields = form_posting_to(client.get("/staff/images").get_data(as_text=True), "/staff/images")
    fields.pop("file", None)
    return client.post("/staff/images", **multipart({**fields, "alt": alt}, data, filename))


def multipart(fields: dict[str, str], data: bytes, filename: str) -> dict[str, object]:
    """A multipart body as bytes: the test client would spool a large one to a temporary
    file it never closes (a ResourceWarning, an error here)."""
    upload_file = FileStorage(BytesIO(data), filename=filename, content_type="image/jpeg")
    boundary, body = encode_multipart({**fields, "file": upload_file})
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def stored(app) -> list[tuple[ArticleImage, list[str]]]:
    with app.app_context():
        rows = db.session.scalars(select(ArticleImage).order_by(ArticleImage.id)).all()
        found = []
        for row in rows:
            names = db.session.scalars(
                select(ArticleImageFile.name).where(ArticleImageFile.image_id == row.id)
            ).all()
            db.session.expunge(row)
            found.append((row, sorted(names)))
        return found


@pytest.fixture
def editor(app):
    return signed_in(app, "editor@clinic.example", "editor")


def assert_clean(data: bytes) -> Image.Image:
    opened = Image.open(BytesIO(data))
    opened.load()
    assert not opened.getexif(), "EXIF survived"
    assert not dict(opened.getexif().get_ifd(0x8825)), "GPS survived"
    assert not FORBIDDEN_INFO & set(opened.info), opened.info.keys()
    for secret in (CAMERA_MAKE, CAMERA_MODEL, "secret-xmp", "taken at home", "Dr Secret"):
        assert secret.encode() not in data, secret
    assert b"Exif\x00\x00" not in data and b"acsp" not in data  # no EXIF block, no ICC
    return opened


def test_a_phone_photo_loses_its_location_and_camera_in_every_served_file(app, editor):
    response = upload(editor, photo())
    assert response.status_code == 303
    page = editor.get(response.location).get_data(as_text=True)
    [(image, names)] = stored(app)
    assert f"![Spine model](/media/{image.digest})" in page
    assert image.widths == [480, 960, 1200] and image.original_format == "jpeg"
    kinds = ["webp", "avif", "jpg"] if AVIF else ["webp", "jpg"]
    assert names == sorted(f"{image.digest}-{w}.{k}" for w in image.widths for k in kinds)
    reader = app.test_client()
    for name in names:
        served = reader.get(f"/media/{name}")
        assert served.status_code == 200, name
        opened = assert_clean(served.data)
        assert opened.width == int(name.split("-")[1].split(".")[0])
        assert opened.format.lower() == {"jpg": "jpeg"}.get(k := name.rsplit(".")[1], k)
    with app.app_context():
        from spine_site.models import AuditEvent

        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "image_upload"))
        assert [e.target for e in event] == [image.digest]


def test_the_photo_is_turned_upright_as_the_phone_meant(app, editor):
    # Orientation 6: stored sideways, shown turned 90 degrees clockwise.
    assert upload(editor, photo(size=(600, 400), orientation=6)).status_code == 303
    [(image, _)] = stored(app)
    assert (image.width, image.height) == (400, 600)
    served = Image.open(BytesIO(app.test_client().get(f"/media/{image.digest}-400.jpg").data))
    assert served.size == (400, 600)
    # The red block, top-left as stored, is top-right once upright.
    r, g, b = served.convert("RGB").getpixel((380, 20))
    assert r > 200 and g < 60 and b < 60
    r, g, b = served.convert("RGB").getpixel((20, 20))
    assert abs(r - g) < 40  # grey gradient there, not the red block


def test_png_text_chunks_are_gone_and_png_stays_the_fallback(app, editor):
    info = PngInfo()
    info.add_text("Author", "Dr Secret")
    info.add_itxt("Comment", "Dr Secret's clinic, room 4")
    out = BytesIO()
    Image.linear_gradient("L").resize((700, 300)).save(out, "PNG", pnginfo=info)
    assert b"Dr Secret" in out.getvalue()
    assert upload(editor, out.getvalue(), filename="chart.png").status_code == 303
    [(image, names)] = stored(app)
    assert image.original_format == "png" and f"{image.digest}-700.png" in names
    reader = app.test_client()
    for name in names:
        served = reader.get(f"/media/{name}")
        opened = assert_clean(served.data)
        assert not {"Author", "Comment"} & set(opened.info)


def test_a_webp_upload_works_and_avif_is_made_when_pillow_can(app, editor):
    data = photo(size=(500, 500), fmt="WEBP")
    assert upload(editor, data, filename="photo.webp").status_code == 303
    [(image, names)] = stored(app)
    assert image.original_format == "webp"
    assert image.formats == (["avif"] if AVIF else [])
    reader = app.test_client()
    for name in names:
        assert_clean(reader.get(f"/media/{name}").data)
    if AVIF:
        served = reader.get(f"/media/{image.digest}-500.avif")
        assert served.content_type == "image/avif"
        assert Image.open(BytesIO(served.data)).format == "AVIF"


def test_the_same_picture_uploaded_twice_is_stored_once(app, editor):
    data = photo(size=(300, 200))
    assert upload(editor, data).status_code == 303
    assert upload(editor, data, alt="Another name").status_code == 303
    [(image, names)] = stored(app)
    assert image.alt == "Spine model" and len(names) == (3 if AVIF else 2)


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _gif() -> bytes:
    out = BytesIO()
    Image.new("RGB", (50, 50), "green").save(out, "GIF")
    return out.getvalue()


NOT_AN_IMAGE = "not a JPEG, PNG or WebP image"
REFUSED = {
    "text renamed": ("photo.jpg", b"Dear patient, this is a text file.\n" * 20, NOT_AN_IMAGE),
    "svg": (
        "drawing.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        NOT_AN_IMAGE,
    ),
    "pdf": ("scan.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", NOT_AN_IMAGE),
    "gif": ("anim.gif", _gif(), NOT_AN_IMAGE),
    "empty": ("photo.jpg", b"", "The file is empty"),
    "bomb past Pillow's guard": ("big.png", _png_declaring(20000, 20000), "too many pixels"),
    "over our pixel bound": ("big.png", _png_declaring(8000, 8000), "too many pixels"),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_what_is_not_a_whole_image_is_refused_in_plain_words(app, editor, case):
    filename, data, message = REFUSED[case]
    response = upload(editor, data, alt="Kept alt words", filename=filename)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert 'value="Kept alt words"' in page
    assert 'aria-invalid="true"' in page and 'id="file-error"' in page
    assert 'class="error-summary"' in page and '<a href="#file">' in page
    assert stored(app) == []


def test_a_truncated_jpeg_is_refused(app, editor, monkeypatch):
    # As in a worker that has built the guide: importing WeasyPrint turns on Pillow's
    # LOAD_TRUNCATED_IMAGES for the whole process.
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    whole = photo(size=(800, 600))
    response = upload(editor, whole[: len(whole) // 2])
    assert response.status_code == 422
    assert NOT_AN_IMAGE in response.get_data(as_text=True)
    assert stored(app) == []


def test_alt_text_is_required(app, editor):
    response = upload(editor, photo(size=(300, 200)), alt="   ")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Write the alt text" in page and 'id="alt-error"' in page
    assert 'aria-describedby="alt-hint alt-error"' in page
    assert stored(app) == []


def test_a_file_over_the_size_bound_gets_a_clear_413(app_factory):
    app = app_factory(IMAGE_MAX_BYTES=1024 * 1024)
    client = signed_in(app, "editor@clinic.example", "editor")
    # Past the request bound (the body is refused before it is read) ...
    response = upload(client, b"\xff" * (1024 * 1024 + 200_000))
    assert response.status_code == 413
    assert "larger than 1 MB" in response.get_data(as_text=True)
    # ... and just over the file bound (read, then refused).
    response = upload(client, b"\xff" * (1024 * 1024 + 10))
    assert response.status_code == 413
    assert "larger than 1 MB" in response.get_data(as_text=True)
    # Someone not signed in is sent to sign in before the body is read (the staff guard runs
    # before the CSRF check would read it), and never gets the upload page.
    anonymous = app.test_client().post("/staff/images", **multipart({}, b"\xff" * 100_000, "a.jpg"))
    assert anonymous.status_code == 302 and anonymous.location.startswith("/staff/login")
    assert "Upload an image" not in anonymous.get_data(as_text=True)
    assert stored(app) == []


def _article(body: str) -> ArticleSource:
    return ArticleSource(
        slug="images-test",
        title="Images",
        description="d",
        summary="s",
        body=body,
        faq=[],
        related=[],
        reviewer="Dr A",
        reviewed=date(2026, 11, 1),
        published=date(2026, 11, 1),
        updated=date(2026, 11, 1),
    )


def test_an_article_shows_the_image_as_a_responsive_picture(app):
    with app.app_context():
        image = images.ingest(photo(size=(2000, 1000)), "Stored alt words", by=None)
        d = image.digest
        body = (
            f"Intro.\n\n![Spine model](/media/{d})\n\n![](/media/{d})\n\n![x](/media/{'0' * 16})\n"
        )
        html = str(render_article(_article(body)).body_html)

    def source(kind: str) -> str:
        urls = ", ".join(f"/media/{d}-{w}.{kind} {w}w" for w in (480, 960, 1600))
        return f'<source type="image/{kind}" srcset="{urls}" sizes="{images.SIZES}">'

    avif, webp = source("avif"), source("webp")
    assert html.count("<picture>") == 2
    assert webp in html and ((avif in html) == AVIF)
    assert f'src="/media/{d}-960.jpg" srcset="/media/{d}-480.jpg 480w,' in html
    assert 'width="2000" height="1000" alt="Spine model" loading="lazy" decoding="async"' in html
    assert 'alt="Stored alt words"' in html  # empty alt in Markdown: the stored one
    assert f'<img src="/media/{"0" * 16}" alt="x"' in html  # unknown: left alone
    assert sanitize(html) == html  # the allow-list keeps all of it
    reader = app.test_client()
    for url in {u for u in html.replace(",", " ").split() if u.startswith("/media/")}:
        if "0000000000000000" not in url:
            assert reader.get(url).status_code == 200, url


def test_html_without_stored_images_passes_untouched_without_an_app():
    html = '<p>See <a href="/media/kit">our kit</a> <img src="/static/x.png" alt="x"></p>'
    assert images.responsive(html) == html


def test_served_files_are_cached_for_good_and_other_names_are_404(app):
    with app.app_context():
        d = images.ingest(photo(size=(500, 400)), "A model", by=None).digest
    client = app.test_client()
    for ext, mimetype in {"webp": "image/webp", "jpg": "image/jpeg"}.items():
        served = client.get(f"/media/{d}-500.{ext}")
        assert served.status_code == 200 and served.content_type == mimetype
        assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert "Set-Cookie" not in served.headers
        again = client.get(
            f"/media/{d}-500.{ext}", headers={"If-None-Match": served.headers["ETag"]}
        )
        assert again.status_code == 304
    for name in (
        f"{'0' * 16}-500.webp",
        f"{d.upper()}-500.webp",
        f"{d}-500.WEBP",
        f"{d}-500.gif",
        f"{d}-500.jpeg",
        f"{d}-12345.webp",
        d,
        f"..%2f{d}-500.webp",
        f"../static/{d}-500.webp",
        "..%2f..%2fspine_site%2fconfig.py",
    ):
        assert client.get(f"/media/{name}").status_code == 404, name


@pytest.mark.parametrize("role", ["marketing", "staff"])
def test_only_editors_and_admins_may_use_the_images_page(app, role):
    client = signed_in(app, f"{role}@clinic.example", role)
    assert client.get("/staff/images").status_code == 403
    token = form_posting_to(client.get("/staff/password").get_data(as_text=True), "")
    posted = client.post(
        "/staff/images",
        data={"csrf_token": token["csrf_token"], "alt": "x", "file": (BytesIO(b"x"), "a.jpg")},
        content_type="multipart/form-data",
    )
    assert posted.status_code == 403
    for allowed in ("editor", "admin"):
        other = signed_in(app, f"{allowed}@clinic.example", allowed)
        page = other.get("/staff/images")
        assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert app.test_client().get("/staff/images").status_code == 302
