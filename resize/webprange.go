package resize

import "image"

// Lossy WebP (VP8) stores limited-range BT.601 Y'CbCr: black is Y=16, white
// Y=235, chroma 16–240 around 128. golang.org/x/image/webp hands those
// planes out as an *image.YCbCr (or *image.NYCbCrA with alpha), whose
// colour model is JPEG's full-range one, so read as is every lossy WebP
// would lose contrast (black at 16, white at 235; golang/go#40173), and
// each WebP-to-WebP variant would lose more. webpToRGB converts such
// planes with the limited-range equations (ITU-R BT.601, as libwebp's
// decoder does, chroma taken from the nearest sample) into an
// *image.NRGBA over the same rectangle; other images are returned as they
// are (lossless VP8L decodes to NRGBA already).
func webpToRGB(m image.Image) image.Image {
	var y *image.YCbCr
	var alpha []uint8
	var astride int
	switch m := m.(type) {
	case *image.YCbCr:
		y = m
	case *image.NYCbCrA:
		y, alpha, astride = &m.YCbCr, m.A, m.AStride
	default:
		return m
	}
	r := y.Rect
	out := image.NewNRGBA(r)
	for py := r.Min.Y; py < r.Max.Y; py++ {
		row := out.Pix[(py-r.Min.Y)*out.Stride:]
		for px := r.Min.X; px < r.Max.X; px++ {
			yi, ci := y.YOffset(px, py), y.COffset(px, py)
			cr, cg, cb := limitedYCbCrToRGB(y.Y[yi], y.Cb[ci], y.Cr[ci])
			a := uint8(255)
			if alpha != nil {
				a = alpha[(py-r.Min.Y)*astride+(px-r.Min.X)]
			}
			o := (px - r.Min.X) * 4
			row[o], row[o+1], row[o+2], row[o+3] = cr, cg, cb, a
		}
	}
	return out
}

// limitedYCbCrToRGB converts one limited-range BT.601 sample to RGB, in
// 16.16 fixed point: R = 1.164(Y−16) + 1.596(Cr−128),
// G = 1.164(Y−16) − 0.392(Cb−128) − 0.813(Cr−128),
// B = 1.164(Y−16) + 2.017(Cb−128).
func limitedYCbCrToRGB(y, cb, cr uint8) (r, g, b uint8) {
	yy := (int32(y) - 16) * 76284 // 1.164 << 16
	u, v := int32(cb)-128, int32(cr)-128
	return clamp16(yy + 104595*v), clamp16(yy - 25690*u - 53281*v), clamp16(yy + 132186*u)
}

// clamp16 rounds a 16.16 fixed-point value to a byte, clamped to 0–255.
func clamp16(v int32) uint8 {
	v = (v + 1<<15) >> 16
	switch {
	case v < 0:
		return 0
	case v > 255:
		return 255
	}
	return uint8(v)
}
