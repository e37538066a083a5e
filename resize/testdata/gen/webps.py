"""Writes the small WebP seeds with the system libwebp (Debian's libwebp7),
through ctypes: lossy, lossy with alpha, lossless with alpha, and an
animated WebP of two lossless frames (libwebp7 alone has no animation
encoder, so the RIFF container of the animation is put together here from
the frames' VP8L chunks, as the WebP container specification lays it out).
Run from this folder: see README.md."""
import ctypes
import struct

lib = ctypes.CDLL("libwebp.so.7")
W, H = 24, 16


def pixels(alpha):
    out = bytearray()
    for y in range(H):
        for x in range(W):
            out += bytes([x * 10, y * 15, 128])
            if alpha:
                out.append(255 if x < W // 2 else 64)
    return bytes(out)


def encode(fn, args):
    buf = ctypes.POINTER(ctypes.c_uint8)()
    n = fn(*args, ctypes.byref(buf))
    if n == 0:
        raise SystemExit("encode failed")
    data = ctypes.string_at(buf, n)
    lib.WebPFree(buf)
    return data


def lossy(alpha):
    px = pixels(alpha)
    fn = lib.WebPEncodeRGBA if alpha else lib.WebPEncodeRGB
    fn.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_float, ctypes.c_void_p]
    fn.restype = ctypes.c_size_t
    return encode(fn, (px, W, H, W * (4 if alpha else 3), ctypes.c_float(80)))


def lossless(px, w, h):
    fn = lib.WebPEncodeLosslessRGBA
    fn.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    fn.restype = ctypes.c_size_t
    return encode(fn, (px, w, h, w * 4))


def chunk(fourcc, body):
    out = fourcc + struct.pack("<I", len(body)) + body
    return out + (b"\x00" if len(body) % 2 else b"")


def riff(body):
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


def u24(v):
    return struct.pack("<I", v)[:3]


def animated():
    # Frame 0: the whole 24×16 canvas; frame 1: an 8×8 red square at (8, 4).
    f0 = lossless(pixels(True), W, H)
    f1 = lossless(bytes([255, 0, 0, 255]) * 64, 8, 8)
    frames = b""
    for (x, y, w, h, data) in ((0, 0, W, H, f0), (8, 4, 8, 8, f1)):
        vp8l = data[12:]  # the VP8L chunk after the RIFF header
        assert vp8l[:4] == b"VP8L"
        hdr = u24(x // 2) + u24(y // 2) + u24(w - 1) + u24(h - 1) + u24(100) + bytes([0])
        frames += chunk(b"ANMF", hdr + vp8l)
    vp8x = bytes([0x10 | 0x02, 0, 0, 0]) + u24(W - 1) + u24(H - 1)
    anim = struct.pack("<IH", 0, 0)  # background colour, loop forever
    return riff(chunk(b"VP8X", vp8x) + chunk(b"ANIM", anim) + frames)


for name, data in (("lossy.webp", lossy(False)), ("lossy-alpha.webp", lossy(True)),
                   ("lossless.webp", lossless(pixels(True), W, H)), ("animated.webp", animated())):
    with open("../" + name, "wb") as f:
        f.write(data)
