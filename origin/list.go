package origin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ListEntry is one object in a listing.
type ListEntry struct {
	// Key is the object's key.
	Key string
	// Size is the object's length in bytes.
	Size int64
	// ETag is the entity tag as HTTP sends it, quoted, like Info.ETag (a
	// multipart upload's is "<md5 of the parts' MD5s>-<parts>" on S3 and
	// R2; see MultipartETag).
	ETag string
	// LastModified is when the object was last written.
	LastModified time.Time
}

// Upload is a multipart upload that was started and neither completed
// nor aborted: its parts take room in the bucket until it is aborted.
type Upload struct {
	// Key is the key the upload would store the object under.
	Key string
	// UploadID is the bucket's name for the upload.
	UploadID string
	// Initiated is when the upload was started.
	Initiated time.Time
}

// List implements Lister with ListObjectsV2, one page after the other.
// Each page's request is bounded by S3Config.Timeout.
func (b *S3) List(ctx context.Context, prefix string, fn func(ListEntry) error) error {
	in := &s3.ListObjectsV2Input{Bucket: &b.bucket}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	if b.listPageSize > 0 {
		in.MaxKeys = aws.Int32(b.listPageSize)
	}
	for {
		bc := b.bound(ctx)
		out, err := b.client.ListObjectsV2(bc.ctx, in)
		err = bc.done(b, "list", prefix, err, nil)
		bc.release()
		if err != nil {
			return err
		}
		for _, o := range out.Contents {
			e := ListEntry{
				Key:          aws.ToString(o.Key),
				Size:         aws.ToInt64(o.Size),
				ETag:         quoteETag(aws.ToString(o.ETag)),
				LastModified: aws.ToTime(o.LastModified),
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		next := aws.ToString(out.NextContinuationToken)
		if !aws.ToBool(out.IsTruncated) || next == "" {
			return nil
		}
		in.ContinuationToken = &next
	}
}

// quoteETag quotes a bare entity tag, as some servers list them.
func quoteETag(tag string) string {
	if tag == "" || strings.HasPrefix(tag, `"`) || strings.HasPrefix(tag, `W/"`) {
		return tag
	}
	return `"` + tag + `"`
}

// ListUploads returns the multipart uploads in progress whose keys start
// with prefix, every page of ListMultipartUploads, in key order (a key's
// uploads from the oldest). Each page's request is bounded by
// S3Config.Timeout.
func (b *S3) ListUploads(ctx context.Context, prefix string) ([]Upload, error) {
	in := &s3.ListMultipartUploadsInput{Bucket: &b.bucket}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	if b.listPageSize > 0 {
		in.MaxUploads = aws.Int32(b.listPageSize)
	}
	var ups []Upload
	for {
		out, err := b.listUploadsPage(ctx, prefix, in)
		if errors.Is(err, ErrBadRequest) && in.UploadIdMarker != nil {
			// versitygw (1.8) takes the key marker as the last key done
			// and refuses the upload-ID marker, which S3 and R2 need to go
			// on with the key's further uploads. Such a server's page
			// starts at the next key instead: a key's uploads beyond the
			// page are found by the next ListUploads.
			in.UploadIdMarker = nil
			out, err = b.listUploadsPage(ctx, prefix, in)
		}
		if err != nil {
			return nil, err
		}
		for _, u := range out.Uploads {
			ups = append(ups, Upload{Key: aws.ToString(u.Key), UploadID: aws.ToString(u.UploadId), Initiated: aws.ToTime(u.Initiated)})
		}
		nextKey, nextID := aws.ToString(out.NextKeyMarker), aws.ToString(out.NextUploadIdMarker)
		if !aws.ToBool(out.IsTruncated) || (nextKey == "" && nextID == "") {
			return ups, nil
		}
		if nextKey == aws.ToString(in.KeyMarker) && nextID == aws.ToString(in.UploadIdMarker) {
			return ups, fmt.Errorf("list uploads %s: the bucket sent the same page twice", QuoteKey(prefix))
		}
		in.KeyMarker, in.UploadIdMarker = aws.String(nextKey), aws.String(nextID)
	}
}

// listUploadsPage asks for one page of uploads.
func (b *S3) listUploadsPage(ctx context.Context, prefix string, in *s3.ListMultipartUploadsInput) (*s3.ListMultipartUploadsOutput, error) {
	bc := b.bound(ctx)
	defer bc.release()
	out, err := b.client.ListMultipartUploads(bc.ctx, in)
	return out, bc.done(b, "list uploads", prefix, err, nil)
}

// AbortUpload aborts a multipart upload, so the bucket drops its parts.
// An upload the bucket no longer knows is ErrNotFound.
func (b *S3) AbortUpload(ctx context.Context, u Upload) error {
	if err := checkS3Key("abort upload", u.Key); err != nil {
		return err
	}
	if u.UploadID == "" {
		return fmt.Errorf("abort upload %s: no upload ID: %w", QuoteKey(u.Key), ErrBadRequest)
	}
	bc := b.bound(ctx)
	defer bc.release()
	_, err := b.client.AbortMultipartUpload(bc.ctx, &s3.AbortMultipartUploadInput{Bucket: &b.bucket, Key: &u.Key, UploadId: &u.UploadID})
	return bc.done(b, "abort upload", u.Key, err, nil)
}

// Interface guard.
var _ Lister = (*S3)(nil)

// List implements Lister by walking the folder, in key order. r2gate's
// own files (metadata sidecars, temporary files) are not listed, nor are
// files no key can name, symbolic links to folders, or anything but
// regular files. ETags are the content hashes Head returns: a file is
// read the first time it is listed (see Dir).
func (d *Dir) List(ctx context.Context, prefix string, fn func(ListEntry) error) error {
	dir := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir = prefix[:i]
	}
	if dir != "" && checkKey(dir) != nil {
		return nil // no key is under such a folder
	}
	return d.walk(ctx, dir, prefix, fn)
}

// dirItem is one name of a folder being listed.
type dirItem struct {
	key string
	// order is what the name sorts as: a folder's name with a slash, so
	// that its keys come where they fall in byte order ("a-b" < "a/b").
	order string
	dir   bool
}

// walk lists the keys under the folder dir (the top when empty) that
// start with prefix.
func (d *Dir) walk(ctx context.Context, dir, prefix string, fn func(ListEntry) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list %s: %w", QuoteKey(prefix), err)
	}
	name := dir
	if name == "" {
		name = "."
	}
	f, err := d.root.Open(name)
	if err != nil {
		if errors.Is(d.mapErr("list", prefix, err), ErrNotFound) {
			return nil
		}
		return d.mapErr("list", prefix, err)
	}
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return d.mapErr("list", prefix, err)
	}
	items := make([]dirItem, 0, len(ents))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), reserved) {
			continue
		}
		key := e.Name()
		if dir != "" {
			key = dir + "/" + key
		}
		isDir := e.IsDir()
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			fi, err := d.root.Stat(key)
			if err != nil || !fi.Mode().IsRegular() {
				continue // dangling, leaving the folder, or a folder
			}
		case !isDir && !e.Type().IsRegular():
			continue
		}
		if isDir {
			sub := key + "/"
			if !strings.HasPrefix(sub, prefix) && !strings.HasPrefix(prefix, sub) {
				continue
			}
			items = append(items, dirItem{key: key, order: e.Name() + "/", dir: true})
			continue
		}
		if strings.HasPrefix(key, prefix) && checkKey(key) == nil {
			items = append(items, dirItem{key: key, order: e.Name()})
		}
	}
	slices.SortFunc(items, func(a, b dirItem) int { return strings.Compare(a.order, b.order) })
	for _, it := range items {
		if it.dir {
			if err := d.walk(ctx, it.key, prefix, fn); err != nil {
				return err
			}
			continue
		}
		e, ok, err := d.entry(it.key)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// entry returns the listing of the file under key; ok is false when it is
// gone or no longer a file.
func (d *Dir) entry(key string) (e ListEntry, ok bool, err error) {
	f, err := d.root.Open(key)
	if err != nil {
		if errors.Is(d.mapErr("list", key, err), ErrNotFound) {
			return e, false, nil
		}
		return e, false, d.mapErr("list", key, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return e, false, fmt.Errorf("list: stat %s: %w", QuoteKey(key), err)
	}
	if !fi.Mode().IsRegular() {
		return e, false, nil
	}
	tag, err := d.etag(f, key, fi)
	if err != nil {
		return e, false, fmt.Errorf("list: %w", err)
	}
	return ListEntry{Key: key, Size: fi.Size(), ETag: tag, LastModified: fi.ModTime().UTC().Truncate(time.Second)}, true, nil
}

// Interface guard.
var _ Lister = (*Dir)(nil)
