package resize

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"io"
)

// MaxICCBytes bounds an ICC profile kept from a source (a PNG's compressed
// iCCP is inflated to at most this). A larger or broken profile is dropped.
const MaxICCBytes = 4 << 20

// metadata is what the container walkers find besides pixels.
type metadata struct {
	exif []byte // TIFF structure, possibly with the Exif\0\0 prefix; aliases the source
	icc  []byte // ICC profile; aliases the source for JPEG (one chunk) and WebP
}

// readMetadata walks the source's container for its EXIF and ICC data.
// Broken metadata is ignored, never an error: the pixel decoder judges the
// file.
func readMetadata(f SourceFormat, data []byte) metadata {
	switch f {
	case SourceJPEG:
		return jpegMetadata(data)
	case SourcePNG:
		return pngMetadata(data)
	case SourceWebP:
		return webpMetadata(data)
	}
	return metadata{}
}

// jpegMetadata walks the JPEG marker segments before the first SOS: the
// first APP1 "Exif" segment, and the APP2 "ICC_PROFILE" chunks reassembled
// in their sequence order (a missing, repeated or inconsistent chunk drops
// the profile).
func jpegMetadata(data []byte) metadata {
	var m metadata
	var chunks [256][]byte
	total, seen := 0, 0
	p := 2 // past SOI
	for p+4 <= len(data) {
		if data[p] != 0xFF {
			break
		}
		marker := data[p+1]
		if marker == 0xFF { // fill byte
			p++
			continue
		}
		if marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8) { // no length
			p += 2
			continue
		}
		if marker == 0xDA || marker == 0xD9 { // SOS, EOI: no metadata after
			break
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		if n < 2 || p+2+n > len(data) {
			break
		}
		seg := data[p+4 : p+2+n]
		p += 2 + n
		switch {
		case marker == 0xE1 && m.exif == nil && bytes.HasPrefix(seg, []byte(exifPrefix)):
			m.exif = seg
		case marker == 0xE2 && bytes.HasPrefix(seg, []byte("ICC_PROFILE\x00")) && len(seg) >= 14:
			seq, count := int(seg[12]), int(seg[13])
			if seq == 0 || seq > count || (total != 0 && count != total) || chunks[seq] != nil {
				total = -1 // inconsistent: drop the profile
				continue
			}
			if total == -1 {
				continue
			}
			total = count
			chunks[seq] = seg[14:]
			seen++
		}
	}
	if total > 0 && seen == total {
		if total == 1 {
			m.icc = chunks[1]
		} else {
			size := 0
			for _, c := range chunks[1 : total+1] {
				size += len(c)
			}
			if size <= MaxICCBytes {
				m.icc = make([]byte, 0, size)
				for _, c := range chunks[1 : total+1] {
					m.icc = append(m.icc, c...)
				}
			}
		}
	}
	return m
}

// pngMetadata walks the PNG chunks for eXIf and iCCP (inflated, bounded by
// MaxICCBytes).
func pngMetadata(data []byte) metadata {
	var m metadata
	p := 8
	for p+12 <= len(data) {
		n := int64(binary.BigEndian.Uint32(data[p:]))
		typ := string(data[p+4 : p+8])
		if n > int64(len(data)-p-12) {
			break
		}
		body := data[p+8 : p+8+int(n)]
		p += 12 + int(n)
		switch typ {
		case "eXIf":
			if m.exif == nil {
				m.exif = body
			}
		case "iCCP":
			if m.icc == nil {
				m.icc = inflateICC(body)
			}
		case "IEND":
			return m
		}
	}
	return m
}

// inflateICC returns the profile of an iCCP chunk body (name, NUL, method 0,
// zlib data), or nil if it is broken or over MaxICCBytes.
func inflateICC(body []byte) []byte {
	i := bytes.IndexByte(body, 0)
	if i < 1 || i > 79 || i+2 > len(body) || body[i+1] != 0 {
		return nil
	}
	zr, err := zlib.NewReader(bytes.NewReader(body[i+2:]))
	if err != nil {
		return nil
	}
	defer zr.Close()
	icc, err := io.ReadAll(io.LimitReader(zr, MaxICCBytes+1))
	if err != nil || len(icc) > MaxICCBytes || len(icc) == 0 {
		return nil
	}
	return icc
}

// webpMetadata walks the RIFF chunks of a WebP for EXIF and ICCP.
func webpMetadata(data []byte) metadata {
	var m metadata
	p := 12
	for p+8 <= len(data) {
		typ := string(data[p : p+4])
		n := int64(binary.LittleEndian.Uint32(data[p+4:]))
		if n > int64(len(data)-p-8) {
			break
		}
		body := data[p+8 : p+8+int(n)]
		p += 8 + int(n) + int(n&1)
		switch typ {
		case "EXIF":
			if m.exif == nil {
				m.exif = body
			}
		case "ICCP":
			if m.icc == nil && len(body) > 0 && len(body) <= MaxICCBytes {
				m.icc = body
			}
		}
	}
	return m
}
