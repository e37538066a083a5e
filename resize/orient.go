package resize

import (
	"image"
	"image/draw"
)

// Orient returns img turned to display upright for EXIF orientation o:
//
//	1 unchanged            5 transposed (mirrored along the main diagonal)
//	2 mirrored left-right  6 rotated 90° clockwise
//	3 rotated 180°         7 transversed (mirrored along the other diagonal)
//	4 mirrored top-bottom  8 rotated 90° counter-clockwise
//
// Width and height swap for 5–8. Orientation 1 and values outside 1–8
// return img itself. Otherwise the result is a new image with its origin at
// (0, 0): of img's own type for the pixel-buffer types of image (RGBA,
// NRGBA, RGBA64, NRGBA64, Gray, Gray16, Alpha, Alpha16, CMYK, Paletted),
// a 4:2:0 YCbCr at the origin stays one (its planes are turned), anything
// else becomes an *image.RGBA (other YCbCr images are converted first, so
// applying the orientation after downscaling is cheaper).
func Orient(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	r := img.Bounds()
	w, h := r.Dx(), r.Dy()
	dr := image.Rect(0, 0, w, h)
	if o >= 5 {
		dr = image.Rect(0, 0, h, w)
	}
	switch m := img.(type) {
	case *image.RGBA:
		d := image.NewRGBA(dr)
		orientPix(d.Pix, d.Stride, m.Pix[m.PixOffset(r.Min.X, r.Min.Y):], m.Stride, w, h, 4, o)
		return d
	case *image.NRGBA:
		d := image.NewNRGBA(dr)
		orientPix(d.Pix, d.Stride, m.Pix[m.PixOffset(r.Min.X, r.Min.Y):], m.Stride, w, h, 4, o)
		return d
	case *image.RGBA64:
		d := image.NewRGBA64(dr)
		orientPix(d.Pix, d.Stride, m.Pix[m.PixOffset(r.Min.X, r.Min.Y):], m.Stride, w, h, 8, o)
		return d
	case *image.NRGBA64:
		d := image.NewNRGBA64(dr)
		orientPix(d.Pix, d.Stride, m.Pix[m.PixOffset(r.Min.X, r.Min.Y):], m.Stride, w, h, 8, o)
		return d
	case *image.Gray:
		d := image.NewGray(dr)
		orientPix(d.Pix, d.Stride, m.Pix[m.PixOffset(r.Min.X, r.Min.Y):], m.Stride, w, h, 1, o)
		return d
	case *image.Gray16:
		d := image.NewGray16(dr)
		orientPix(d.Pix, d.Stride, m.Pix[m.PixOffset(r.Min.X, r.Min.Y):], m.Stride, w, h, 2, o)
		return d
	case *image.Alpha:
		d := image.NewAlpha(dr)
		orientPix(d.Pix, d.Stride, m.Pix[m.PixOffset(r.Min.X, r.Min.Y):], m.Stride, w, h, 1, o)
		return d
	case *image.Alpha16:
		d := image.NewAlpha16(dr)
		orientPix(d.Pix, d.Stride, m.Pix[m.PixOffset(r.Min.X, r.Min.Y):], m.Stride, w, h, 2, o)
		return d
	case *image.CMYK:
		d := image.NewCMYK(dr)
		orientPix(d.Pix, d.Stride, m.Pix[m.PixOffset(r.Min.X, r.Min.Y):], m.Stride, w, h, 4, o)
		return d
	case *image.YCbCr:
		if d, ok := orientYCbCr(m, o); ok {
			return d
		}
	case *image.Paletted:
		d := image.NewPaletted(dr, m.Palette)
		orientPix(d.Pix, d.Stride, m.Pix[m.PixOffset(r.Min.X, r.Min.Y):], m.Stride, w, h, 1, o)
		return d
	}
	rgba := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(rgba, rgba.Rect, img, r.Min, draw.Src)
	return Orient(rgba, o)
}

// orientPix writes into dst (stride dstStride) the w×h source src (stride
// srcStride, starting at its top-left pixel) of bpp bytes a pixel, turned
// for orientation o (2–8). Output pixel (x, y) is source byte offset
// base + x*stepX + y*stepY.
func orientPix(dst []byte, dstStride int, src []byte, srcStride, w, h, bpp, o int) {
	last := (h-1)*srcStride + (w-1)*bpp // bottom-right pixel
	var base, stepX, stepY int
	switch o {
	case 2:
		base, stepX, stepY = (w-1)*bpp, -bpp, srcStride
	case 3:
		base, stepX, stepY = last, -bpp, -srcStride
	case 4:
		base, stepX, stepY = (h-1)*srcStride, bpp, -srcStride
	case 5:
		base, stepX, stepY = 0, srcStride, bpp
	case 6:
		base, stepX, stepY = (h-1)*srcStride, -srcStride, bpp
	case 7:
		base, stepX, stepY = last, -srcStride, -bpp
	case 8:
		base, stepX, stepY = (w-1)*bpp, srcStride, -bpp
	}
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	// Tiles of 64×64 output pixels: for the transposing orientations
	// (5–8) a row of the output is a column of the source, and walking a
	// whole column would touch a new cache line for every pixel.
	const tile = 64
	for y0 := 0; y0 < dh; y0 += tile {
		for x0 := 0; x0 < dw; x0 += tile {
			x1 := min(x0+tile, dw)
			for y := y0; y < min(y0+tile, dh); y++ {
				row := dst[y*dstStride+x0*bpp : y*dstStride+x1*bpp]
				s := base + y*stepY + x0*stepX
				switch bpp {
				case 1:
					for i := range row {
						row[i] = src[s]
						s += stepX
					}
				case 4:
					for x := 0; x+3 < len(row); x += 4 {
						p := src[s : s+4 : s+4]
						q := row[x : x+4 : x+4]
						q[0], q[1], q[2], q[3] = p[0], p[1], p[2], p[3]
						s += stepX
					}
				default:
					for x := 0; x < len(row); x += bpp {
						copy(row[x:x+bpp], src[s:s+bpp])
						s += stepX
					}
				}
			}
		}
	}
}
