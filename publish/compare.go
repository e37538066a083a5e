package publish

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/r2gate/r2gate/origin"
)

// unchanged reports whether the file f holds the same bytes as the
// listed object obj of the same size, from obj's ETag: a plain one is the
// MD5 of the bytes; a multipart one ("<hex>-<parts>") is computed again
// with the part size that uploaded the object (PartSizeMeta, read with a
// HEAD), else with every usual part size that gives that many parts. An
// ETag of another form (an encrypted S3 object's) never matches: the file
// is uploaded again.
func unchanged(ctx context.Context, b Bucket, f *File, obj origin.ListEntry, partSize int64) (bool, error) {
	etag := normalizeETag(obj.ETag)
	if etag == "" {
		return false, nil
	}
	hexPart, parts, multipart := strings.Cut(etag, "-")
	if !multipart {
		if len(hexPart) != 32 {
			return false, nil
		}
		got, err := hashFile(f, 0)
		return err == nil && got == etag, err
	}
	n, err := strconv.Atoi(parts)
	if err != nil || n < 1 {
		return false, nil
	}
	info, err := b.Head(ctx, f.Key)
	if err != nil {
		return false, fmt.Errorf("reading the object's part size: %w", err)
	}
	for _, ps := range partSizes(info.Metadata[PartSizeMeta], partSize, f.Size, n) {
		got, err := hashFile(f, ps)
		if err != nil {
			return false, err
		}
		if got == etag {
			return true, nil
		}
	}
	return false, nil
}

// partSizes returns the part sizes to try for a multipart object of size
// bytes in n parts: the recorded one, else the configured one, the
// default, the minimum and the usual sizes of other tools (the AWS CLI's
// 8 MiB, rclone's 5 MiB, 16, 32, 64, 100 and 128 MiB), and the size that
// uploadPartSize would pick, each only if it gives n parts.
func partSizes(recorded string, configured, size int64, n int) []int64 {
	if ps, err := strconv.ParseInt(recorded, 10, 64); err == nil && ps > 0 {
		return []int64{ps}
	}
	const mib = 1 << 20
	var out []int64
	for _, ps := range []int64{configured, uploadPartSize(configured, size), origin.DefaultPartSize,
		origin.MinPartSize, 16 * mib, 32 * mib, 64 * mib, 100 * mib, 128 * mib} {
		if ps <= 0 || partCount(size, ps) != int64(n) {
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || o == ps
		}
		if !dup {
			out = append(out, ps)
		}
	}
	return out
}

// partCount is how many parts of ps bytes hold size bytes (at least one).
func partCount(size, ps int64) int64 {
	if size <= 0 {
		return 1
	}
	return (size + ps - 1) / ps
}

// uploadPartSize is the part size Sync uploads a file of size bytes with:
// the configured one, or, when that would need more than origin.MaxParts
// parts, the smallest whole number of MiB that does not.
func uploadPartSize(configured, size int64) int64 {
	if partCount(size, configured) <= origin.MaxParts {
		return configured
	}
	const mib = 1 << 20
	ps := (size + origin.MaxParts - 1) / origin.MaxParts
	return (ps + mib - 1) / mib * mib
}

// hashFile returns the ETag the file's bytes would have, unquoted: the
// plain MD5 when partSize is 0, else the multipart ETag with that part
// size.
func hashFile(f *File, partSize int64) (string, error) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	var etag string
	if partSize == 0 {
		etag, err = origin.PlainETag(fh)
	} else {
		etag, err = origin.MultipartETag(fh, partSize)
	}
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", f.Path, err)
	}
	return normalizeETag(etag), nil
}

// normalizeETag returns an ETag without its quotes and weak marker, in
// lower case.
func normalizeETag(etag string) string {
	etag = strings.TrimPrefix(etag, "W/")
	etag = strings.Trim(etag, `"`)
	return strings.ToLower(etag)
}
