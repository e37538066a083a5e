#!/usr/bin/env python3
"""Writes the source pictures the corpus is made from: src.ppm (colour) and src.pgm (gray),
W×H, gradients, hard edges, a sine and pseudo-random noise (fixed seed)."""
import math, random, sys
w, h = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(11)
rgb, gray = bytearray(), bytearray()
for y in range(h):
    for x in range(w):
        r = 255 * x // max(w - 1, 1)
        g = 255 * y // max(h - 1, 1)
        b = int(128 + 100 * math.sin((x + 2 * y) / 9))
        if (x // 16 + y // 12) % 2 == 0:
            r, b = 255 - r, 255 - b
        if x % 41 == 0 or y % 31 == 0:
            g = 255 - g
        n = rng.randint(-8, 8)
        px = [min(max(v, 0), 255) for v in (r + n, g + n, b - n)]
        rgb += bytes(px)
        gray.append((px[0] * 299 + px[1] * 587 + px[2] * 114) // 1000)
open(sys.argv[3] + ".ppm", "wb").write(b"P6\n%d %d\n255\n" % (w, h) + rgb)
open(sys.argv[3] + ".pgm", "wb").write(b"P5\n%d %d\n255\n" % (w, h) + gray)
