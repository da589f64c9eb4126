"""Writes the test article's pictures into DIR, made with a real encoder (Pillow).

Usage: python make_pictures.py DIR
Body pictures one.jpg, two.png, three.gif, four.jpg and a cover, cover.jpg: what a writer's
article directory holds. Shared by the publishing-tool tests (md2wechat, wenyan).
"""

import io
import os
import random
import sys

BODY = {"one.jpg": ("jpg", 1, (320, 200)), "two.png": ("png", 2, (200, 150)),
        "three.gif": ("gif", 3, (120, 90)), "four.jpg": ("jpg", 4, (640, 360))}
COVER = ("jpg", 5, (360, 200))


def picture(kind, seed, size):
    from PIL import Image

    rnd = random.Random(seed)
    w, h = size
    im = Image.new("RGB", (w, h))
    im.putdata([((x * 3 + rnd.randrange(40)) % 256, (y * 2) % 256, (x ^ y) % 256)
                for y in range(h) for x in range(w)])
    buf = io.BytesIO()
    if kind == "jpg":
        im.save(buf, "JPEG", quality=88)
    elif kind == "png":
        im.save(buf, "PNG")
    else:
        im.convert("P").save(buf, "GIF")
    return buf.getvalue()


def write_all(directory):
    """Writes every picture; returns {name: bytes} of the body pictures and the cover's bytes."""
    body = {name: picture(*spec) for name, spec in BODY.items()}
    cover = picture(*COVER)
    for name, data in list(body.items()) + [("cover.jpg", cover)]:
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
    return body, cover


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    write_all(sys.argv[1])
