package jpegdec

import (
	"image"
	"image/color"
)

// finish turns the decoded planes (or, for a progressive frame, the coefficients) into the
// image Decode returns.
func (d *decoder) finish() (image.Image, error) {
	if d.progressive {
		d.progressiveIDCT()
	}
	w := (d.cfg.Width + d.scale - 1) / d.scale
	h := (d.cfg.Height + d.scale - 1) / d.scale
	rect := image.Rect(0, 0, w, h)
	cs := d.comps
	switch len(cs) {
	case 1:
		return &image.Gray{Pix: cs[0].plane, Stride: cs[0].stride, Rect: rect}, nil
	case 3:
		if d.isRGB() {
			if d.cfg.Subsampling != image.YCbCrSubsampleRatio444 {
				return nil, unsupported("subsampled RGB")
			}
			return d.rgb(rect), nil
		}
		return &image.YCbCr{
			Y: cs[0].plane, Cb: cs[1].plane, Cr: cs[2].plane,
			YStride: cs[0].stride, CStride: cs[1].stride,
			SubsampleRatio: d.cfg.Subsampling,
			Rect:           rect,
		}, nil
	default:
		if !d.cfg.Adobe {
			return nil, unsupported("4-component JPEG without an Adobe marker")
		}
		return d.cmyk(rect), nil
	}
}

// isRGB tells whether a 3-component frame holds RGB rather than YCbCr (as image/jpeg decides).
func (d *decoder) isRGB() bool {
	if d.jfif {
		return false
	}
	if d.cfg.Adobe && d.cfg.AdobeTransform == 0 {
		return true
	}
	return d.comps[0].id == 'R' && d.comps[1].id == 'G' && d.comps[2].id == 'B'
}

// progressiveIDCT transforms the stored coefficients of every block into the planes.
func (d *decoder) progressiveIDCT() {
	nn := d.bsz * d.bsz
	keep := &keepIdx[d.scale]
	for i := range d.comps {
		c := &d.comps[i]
		c.plane = make([]byte, c.stride*c.bh*d.bsz)
		var mul [64]int32
		d.multipliers(c.tq, &mul)
		// mulNat: the multiplier for each kept position.
		var mulKept [64]int32
		for k := 0; k < 64; k++ {
			if j := keep[k]; j >= 0 {
				mulKept[j] = mul[k]
			}
		}
		for by := 0; by < c.bh; by++ {
			for bx := 0; bx < c.bw; bx++ {
				bi := by*c.bw + bx
				coef := c.coef[bi*nn : bi*nn+nn]
				for j, v := range coef {
					d.blk[j] = int32(v) * mulKept[j]
				}
				d.transform(c, bx, by)
			}
		}
		c.coef, c.mask = nil, nil
	}
}

// rgb interleaves the three planes of an RGB frame.
func (d *decoder) rgb(rect image.Rectangle) image.Image {
	img := image.NewRGBA(rect)
	r, g, b := d.comps[0], d.comps[1], d.comps[2]
	for y := 0; y < rect.Dy(); y++ {
		row := img.Pix[y*img.Stride : y*img.Stride+4*rect.Dx()]
		o := y * r.stride
		for x := 0; x < rect.Dx(); x++ {
			row[4*x] = r.plane[o+x]
			row[4*x+1] = g.plane[o+x]
			row[4*x+2] = b.plane[o+x]
			row[4*x+3] = 0xFF
		}
	}
	return img
}

// cmyk converts a 4-component Adobe frame: transform 0 is inverted CMYK, any other YCCK
// (YCbCr of the inverted CMY, with inverted K), as image/jpeg and libjpeg read them.
func (d *decoder) cmyk(rect image.Rectangle) image.Image {
	img := image.NewCMYK(rect)
	cs := d.comps
	hs, vs := cs[0].h/cs[1].h, cs[0].v/cs[1].v
	ycck := d.cfg.AdobeTransform != 0
	for y := 0; y < rect.Dy(); y++ {
		row := img.Pix[y*img.Stride : y*img.Stride+4*rect.Dx()]
		yo := y * cs[0].stride
		co := (y / vs) * cs[1].stride
		for x := 0; x < rect.Dx(); x++ {
			c0, c1, c2 := cs[0].plane[yo+x], cs[1].plane[co+x/hs], cs[2].plane[co+x/hs]
			k := cs[3].plane[yo+x]
			if ycck {
				r, g, b := color.YCbCrToRGB(c0, c1, c2)
				row[4*x], row[4*x+1], row[4*x+2] = r, g, b
			} else {
				row[4*x], row[4*x+1], row[4*x+2] = 255-c0, 255-c1, 255-c2
			}
			row[4*x+3] = 255 - k
		}
	}
	return img
}
