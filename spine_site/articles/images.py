"""Article images: an upload checked by its content, cleaned of every byte of metadata,
stored as responsive files in the database, and the <picture> markup articles show them with.

A phone photo carries where it was taken (EXIF GPS), the camera, sometimes the owner's name:
so an upload is rebuilt from its decoded pixels alone, and the stored files carry none of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import warnings
from collections.abc import Callable, Iterator
from io import BytesIO

from flask import current_app
from markupsafe import escape
from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError, features
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from spine_site.accounts import audit
from spine_site.extensions import db
from spine_site.models import ArticleImage, ArticleImageFile, User
from spine_site.transaction import atomic

MB = 1024 * 1024
# The widths made (never wider than the upload): 960 serves most screens, 1600 the sharp ones.
WIDTHS = (480, 960, 1600)
# What Pillow calls the formats accepted, and the names we store them by.
ACCEPTED = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp"}
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "avif": "avif"}
MIMETYPES = {kind: f"image/{kind}" for kind in EXTENSIONS}
ALT_MAX = 300
# The article column (static/css: .narrow) on a wide screen, else the phone's width.
SIZES = "(min-width: 48rem) 46rem, 100vw"
NOT_AN_IMAGE = (
    "That file is not a JPEG, PNG or WebP image (or it is damaged). "
    "Save it as a JPEG or PNG and try again."
)


class ImageRejected(ValueError):
    """An upload refused, with a message for the editor in plain words and the HTTP status
    the page answers with (413 for a file too large, else 422)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def ingest(data: bytes, alt: str, by: User | None) -> ArticleImage:
    """Check, clean and store an upload; the same picture uploaded again returns the image
    already stored (its alt text unchanged). One transaction, with an audit entry; the
    files are encoded before it begins, so no other write waits for the encoders."""
    alt = check_alt(alt)
    config = current_app.config
    limit = config["IMAGE_MAX_BYTES"]
    if not data:
        raise ImageRejected("The file is empty. Choose the image again.")
    if len(data) > limit:
        raise ImageRejected(too_large_message(limit), 413)
    image, fmt = _open(data, config["IMAGE_MAX_PIXELS"])
    clean = _clean(image)
    digest = pixel_digest(clean)
    existing = _by_digest(digest)
    if existing is not None:
        return existing
    widths = widths_for(clean.width)
    extras = [f for f in extra_formats() if f != fmt]
    files = _encode(clean, digest, widths, [*extras, fmt])
    row = ArticleImage(
        digest=digest,
        alt=alt,
        width=clean.width,
        height=clean.height,
        original_format=fmt,
        widths=widths,
        formats=extras,
        uploaded_by_id=by.id if by is not None else None,
    )
    try:
        with atomic():
            db.session.add(row)
            db.session.flush()
            for file in files:
                file.image_id = row.id
            db.session.add_all(files)
            audit.record(
                "image_upload",
                user=by,
                target=digest,
                detail={"format": fmt, "width": clean.width, "height": clean.height},
            )
    except IntegrityError:
        # Someone uploaded the same picture at the same moment: theirs is the one kept.
        existing = _by_digest(digest)
        if existing is None:
            raise
        return existing
    return row


def check_alt(alt: str | None) -> str:
    """The alt text, trimmed, or ImageRejected saying what is wrong with it."""
    text = " ".join((alt or "").split())
    if not text:
        raise ImageRejected(
            "Write the alt text: what the image shows, for readers who cannot see it."
        )
    if len(text) > ALT_MAX:
        raise ImageRejected(f"Keep the alt text under {ALT_MAX} characters.")
    return text


def too_large_message(limit: int) -> str:
    return (
        f"That file is larger than {limit // MB} MB. Save a smaller copy "
        "(a photo 2000 pixels wide is plenty) and try again."
    )


@contextlib.contextmanager
def _whole_files_only() -> Iterator[None]:
    """Refuse a cut-off file while decoding. WeasyPrint (the guide) sets Pillow's global
    LOAD_TRUNCATED_IMAGES when it is imported, after which Pillow pads a truncated upload
    with grey instead of failing; the setting is put back afterwards."""
    before = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before


def _open(data: bytes, max_pixels: int) -> tuple[Image.Image, str]:
    """The decoded image and its format, refused unless it is a whole JPEG, PNG or WebP
    within the pixel bound (checked from the header, before the pixels are decoded)."""
    too_many = ImageRejected(
        f"That image has too many pixels (more than {max_pixels // 1_000_000} megapixels). "
        "Save a smaller copy and try again."
    )
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb guard only warns below twice its limit: refuse those too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(BytesIO(data), formats=list(ACCEPTED))
            if image.format not in ACCEPTED:
                raise ImageRejected(NOT_AN_IMAGE)
            if image.width * image.height > max_pixels:
                raise too_many
            with _whole_files_only():
                image.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_many from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        # (A truncated or corrupt file fails in load() with one of these.)
        raise ImageRejected(NOT_AN_IMAGE) from None
    return image, ACCEPTED[image.format]


def _clean(image: Image.Image) -> Image.Image:
    """The picture upright, in sRGB, rebuilt from its pixels alone: no EXIF (GPS, camera),
    XMP, IPTC, ICC profile, PNG text chunks or comments survive."""
    image = ImageOps.exif_transpose(image)
    alpha = image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info
    mode = "RGBA" if alpha else "RGB"
    icc = image.info.get("icc_profile")
    if icc and image.mode in {"RGB", "RGBA", "CMYK"}:
        # Converted to sRGB, then the profile is dropped: browsers assume sRGB for an untagged
        # image. A profile Pillow cannot read is simply dropped (colours may shift a little).
        with contextlib.suppress(ImageCms.PyCMSError, OSError, ValueError):
            image = ImageCms.profileToProfile(
                image,
                ImageCms.ImageCmsProfile(BytesIO(icc)),
                ImageCms.createProfile("sRGB"),
                outputMode=mode if image.mode != "CMYK" else "RGB",
            )
    converted = image.convert(mode)
    return Image.frombytes(mode, converted.size, converted.tobytes())


def pixel_digest(image: Image.Image) -> str:
    """The first 16 hex digits of the SHA-256 of the cleaned pixels: the files' name stem."""
    h = hashlib.sha256(f"{image.mode}:{image.width}x{image.height}:".encode())
    h.update(image.tobytes())
    return h.hexdigest()[:16]


def widths_for(width: int) -> list[int]:
    """The widths made for an image `width` pixels wide: the steps below it (unless within
    15% of it) and then the image itself, capped at the largest step."""
    top = min(width, WIDTHS[-1])
    return [w for w in WIDTHS if w < top * 0.85] + [top]


def extra_formats() -> list[str]:
    """The modern formats every upload is also stored in, as Pillow here can write them."""
    return ["webp", "avif"] if features.check("avif") else ["webp"]


_ENCODERS: dict[str, Callable[[Image.Image, BytesIO], None]] = {
    "jpeg": lambda im, out: im.save(out, "JPEG", quality=82, optimize=True, progressive=True),
    "png": lambda im, out: im.save(out, "PNG", optimize=True),
    "webp": lambda im, out: im.save(out, "WEBP", quality=80, method=4),
    # speed 8: a few times faster than the default for a slightly larger file.
    "avif": lambda im, out: im.save(out, "AVIF", quality=60, speed=8),
}


def _encode(
    clean: Image.Image, digest: str, widths: list[int], kinds: list[str]
) -> list[ArticleImageFile]:
    """Every width in every format, not yet in the session (the image's id comes later)."""
    files = []
    for width in widths:
        height = max(1, round(clean.height * width / clean.width))
        sized = clean if width == clean.width else clean.resize((width, height), Image.LANCZOS)
        for kind in kinds:
            out = BytesIO()
            _ENCODERS[kind](sized if kind != "jpeg" else sized.convert("RGB"), out)
            files.append(
                ArticleImageFile(
                    name=file_name(digest, width, kind),
                    mimetype=MIMETYPES[kind],
                    width=width,
                    data=out.getvalue(),
                )
            )
    return files


def file_name(digest: str, width: int, kind: str) -> str:
    return f"{digest}-{width}.{EXTENSIONS[kind]}"


def _by_digest(digest: str) -> ArticleImage | None:
    return db.session.scalar(select(ArticleImage).where(ArticleImage.digest == digest))


def newest(limit: int = 200) -> list[ArticleImage]:
    """The images uploaded, newest first, for the staff page."""
    query = select(ArticleImage).order_by(ArticleImage.created_at.desc(), ArticleImage.id.desc())
    return list(db.session.scalars(query.limit(limit)))


def markdown_snippet(image: ArticleImage) -> str:
    """What an editor pastes into an article to show the image."""
    alt = image.alt.replace("[", "(").replace("]", ")")
    return f"![{alt}](/media/{image.digest})"


# -- In articles: <img src="/media/<digest>"> becomes a <picture> -------------------------

# What markdown-it writes for ![alt](/media/<digest>) (alt already HTML-escaped), perhaps
# with a title.
_MEDIA_IMG = re.compile(r'<img src="/media/(?P<digest>[0-9a-f]{16})" alt="(?P<alt>[^"]*)"[^>]*?/?>')


def responsive(html: str) -> str:
    """`html` with each stored image (as Markdown renders it) turned into a <picture> of
    its responsive files; other images, and HTML without any, pass through untouched."""
    if "/media/" not in html:
        return html
    digests = {m.group("digest") for m in _MEDIA_IMG.finditer(html)}
    if not digests:
        return html
    rows = db.session.scalars(select(ArticleImage).where(ArticleImage.digest.in_(digests)))
    found = {row.digest: row for row in rows}

    def swap(match: re.Match[str]) -> str:
        shown = found.get(match.group("digest"))
        if shown is None:
            return match.group(0)
        return picture_html(shown, match.group("alt") or str(escape(shown.alt)))

    return _MEDIA_IMG.sub(swap, html)


def picture_html(shown: ArticleImage, alt_html: str) -> str:
    """The <picture> for one image; `alt_html` is already escaped."""

    def srcset(kind: str) -> str:
        return ", ".join(f"/media/{file_name(shown.digest, w, kind)} {w}w" for w in shown.widths)

    sources = "".join(
        f'<source type="{MIMETYPES[kind]}" srcset="{srcset(kind)}" sizes="{SIZES}">'
        for kind in ("avif", "webp")
        if kind in shown.formats
    )
    # The src for browsers without srcset: the largest width up to 960.
    middle = max([w for w in shown.widths if w <= 960] or shown.widths[:1])
    src = f"/media/{file_name(shown.digest, middle, shown.original_format)}"
    return (
        f"<picture>{sources}"
        f'<img src="{src}" srcset="{srcset(shown.original_format)}" sizes="{SIZES}" '
        f'width="{shown.width}" height="{shown.height}" alt="{alt_html}" '
        f'loading="lazy" decoding="async"></picture>'
    )
