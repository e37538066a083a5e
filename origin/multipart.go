package origin

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// How a Put streams a body to an S3 bucket. A body of at most one part
// (PutOptions.PartSize) is one PutObject; a larger one, or one of unknown
// length that turns out larger, is a multipart upload: the body is read
// part by part into buffers (at most Concurrency+1 of them, reused) or,
// when it can be read at offsets (a file), sent section by section without
// buffers; parts are sent Concurrency at a time, each retried on a
// transient failure, and the upload is completed in part order. Whatever
// goes wrong, the upload is aborted, so the bucket keeps no parts of it.

const (
	// partAttempts is how many times a part is sent at most.
	partAttempts = 4
	// partBackoff is the pause before a part's first retry; it doubles
	// for each further retry.
	partBackoff = 100 * time.Millisecond
	// abortTimeout bounds the abort of a failed upload, which runs on a
	// fresh context: the caller's may be the reason it failed.
	abortTimeout = 10 * time.Second
)

// retryables says which errors of a part upload are worth another attempt:
// the SDK's own list (connection errors, 5xx, throttling).
var retryables = retry.IsErrorRetryables(retry.DefaultRetryables)

// uploadPlan is a Put's validated part size and concurrency.
type uploadPlan struct {
	partSize int64
	conc     int
}

// plan validates the upload options of o and the conditions, and fills
// in the defaults.
func (o PutOptions) plan(key string) (uploadPlan, error) {
	p := uploadPlan{partSize: o.PartSize, conc: o.Concurrency}
	if p.partSize == 0 {
		p.partSize = DefaultPartSize
	}
	if p.conc == 0 {
		p.conc = DefaultPartConcurrency
	}
	switch {
	case p.partSize < MinPartSize || p.partSize > MaxPartSize:
		return p, fmt.Errorf("put %s: part size %d is outside [%d, %d]", QuoteKey(key), p.partSize, MinPartSize, MaxPartSize)
	case p.conc < 0:
		return p, fmt.Errorf("put %s: negative concurrency %d", QuoteKey(key), p.conc)
	case o.IfNoneMatch != "" && o.IfNoneMatch != "*":
		return p, fmt.Errorf("put %s: If-None-Match must be \"*\": %w", QuoteKey(key), ErrBadRequest)
	case o.IfNoneMatch != "" && o.IfMatch != "":
		return p, fmt.Errorf("put %s: both If-Match and If-None-Match: %w", QuoteKey(key), ErrPreconditionFailed)
	}
	return p, nil
}

// preconditionErr returns err, or ErrPreconditionFailed when err says the
// object is missing and the write asked for a version of it (If-Match):
// S3 and versitygw answer 404 NoSuchKey for that; the caller asked for a
// version, and there is none.
func (o PutOptions) preconditionErr(key string, err error) error {
	if o.IfMatch != "" && errors.Is(err, ErrNotFound) {
		return fmt.Errorf("put %s: no object to match %.80q: %w", QuoteKey(key), o.IfMatch, ErrPreconditionFailed)
	}
	return err
}

// Put implements Bucket. Memory stays bounded whatever the body's size:
// at most one body of PartSize bytes for a single PutObject (none when
// body is an io.ReadSeeker whose length can be measured: it is sent as
// is), and at most Concurrency+1 part buffers of PartSize bytes for a
// multipart upload (none when body is also an io.ReaderAt, such as an
// *os.File: parts are sections of it). Parts are retried up to 3 times
// (after 100, 200, 400 ms) on transient failures; any failure, ctx's end
// included, aborts the upload (on a context of its own, for at most 10 s).
//
// A size that needs more than MaxParts parts is ErrTooLarge before any
// I/O; a body of unknown length that turns out to is ErrTooLarge after
// MaxParts parts (and the upload is aborted).
//
// The conditions of meta are sent to the bucket with the PutObject or the
// CompleteMultipartUpload, which evaluates them as it publishes the
// object. A multipart upload also checks them with a HEAD before it sends
// any part, so that an unmet condition does not cost the whole upload
// (only the bucket's check, at the end, is authoritative).
func (b *S3) Put(ctx context.Context, key string, body io.Reader, size int64, meta PutOptions) (Info, error) {
	if err := checkS3Key("put", key); err != nil {
		return Info{}, err
	}
	plan, err := meta.plan(key)
	if err != nil {
		return Info{}, err
	}
	switch {
	case size >= 0 && size <= plan.partSize:
		err = b.putSmall(ctx, key, body, size, meta)
	case size > MaxParts*plan.partSize:
		err = fmt.Errorf("put %s: %d bytes are more than %d parts of %d: %w", QuoteKey(key), size, MaxParts, plan.partSize, ErrTooLarge)
	default:
		err = b.putMultipart(ctx, key, body, size, meta, plan)
	}
	if err != nil {
		return Info{}, err
	}
	return b.Head(ctx, key)
}

// putSmall stores a body of size bytes, at most one part, with one
// PutObject. A seekable body of the right length is sent as is; any other
// is read into memory first, so that the SDK can sign and resend it.
func (b *S3) putSmall(ctx context.Context, key string, body io.Reader, size int64, meta PutOptions) error {
	if rs, ok := body.(io.ReadSeeker); ok {
		if n, ok := remaining(rs); ok {
			if n != size {
				return sizeErr(key, n, size)
			}
			rec := &recordingReadSeeker{r: rs}
			err := b.putObject(ctx, key, rec, size, meta)
			if rerr := rec.readErr(); err != nil && rerr != nil {
				return bodyErr(key, rerr)
			}
			return err
		}
	}
	buf := make([]byte, size)
	n, eof, err := readFull(body, buf)
	switch {
	case err != nil:
		return bodyErr(key, err)
	case eof && int64(n) < size:
		return sizeErr(key, int64(n), size)
	}
	if err := checkEnd(key, body, size); err != nil {
		return err
	}
	return b.putObject(ctx, key, bytes.NewReader(buf), size, meta)
}

// remaining returns how many bytes rs holds from its position to its end,
// leaving the position where it was; ok is false when rs cannot tell.
func remaining(rs io.ReadSeeker) (n int64, ok bool) {
	cur, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, false
	}
	end, err := rs.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, false
	}
	if _, err := rs.Seek(cur, io.SeekStart); err != nil {
		return 0, false
	}
	return end - cur, true
}

// readFull reads from r until buf is full or r ends (eof). Unlike
// io.ReadFull it passes the reader's own errors on as they are, even
// io.ErrUnexpectedEOF (what net/http's request bodies return when the
// client hangs up): only io.EOF is the end of the body.
func readFull(r io.Reader, buf []byte) (n int, eof bool, err error) {
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			return n, true, nil
		}
		if err != nil {
			return n, false, err
		}
	}
	return n, false, nil
}

// checkEnd makes sure body has nothing after the size bytes read from it.
func checkEnd(key string, body io.Reader, size int64) error {
	var one [1]byte
	n, _, err := readFull(body, one[:])
	switch {
	case err != nil:
		return bodyErr(key, err)
	case n > 0:
		return fmt.Errorf("put %s: body is longer than %d bytes: %w", QuoteKey(key), size, ErrBodySize)
	}
	return nil
}

// sizeErr is the error of a body of n bytes where want were announced.
func sizeErr(key string, n, want int64) error {
	if n < want {
		return fmt.Errorf("put %s: body ended after %d of %d bytes: %w: %w", QuoteKey(key), n, want, ErrBodySize, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("put %s: body has %d bytes, more than %d: %w", QuoteKey(key), n, want, ErrBodySize)
}

// bodyErr is the error of a failed read of a Put's body.
func bodyErr(key string, err error) error {
	return fmt.Errorf("put %s: %w: %w", QuoteKey(key), ErrBodyRead, err)
}

// recordingReadSeeker remembers the first read error of the body it
// wraps, so that a Put reports the body's failure rather than the SDK's
// account of it.
type recordingReadSeeker struct {
	r io.ReadSeeker

	mu  sync.Mutex // the transport may still read as the call returns
	err error
}

func (r *recordingReadSeeker) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.mu.Lock()
		if r.err == nil {
			r.err = err
		}
		r.mu.Unlock()
	}
	return n, err
}

// readErr returns the first read error, if any.
func (r *recordingReadSeeker) readErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *recordingReadSeeker) Seek(off int64, whence int) (int64, error) {
	return r.r.Seek(off, whence)
}

// putObject sends one PutObject with the metadata and conditions of meta.
func (b *S3) putObject(ctx context.Context, key string, body io.ReadSeeker, size int64, meta PutOptions) error {
	in := &s3.PutObjectInput{
		Bucket:        &b.bucket,
		Key:           &key,
		Body:          body,
		ContentLength: aws.Int64(size),
		Metadata:      meta.Metadata,
	}
	setHeaders(meta, &in.ContentType, &in.CacheControl, &in.ContentEncoding, &in.ContentDisposition, &in.ContentLanguage)
	if meta.IfNoneMatch != "" {
		in.IfNoneMatch = aws.String(meta.IfNoneMatch)
	}
	if meta.IfMatch != "" {
		in.IfMatch = aws.String(meta.IfMatch)
	}
	if _, err := b.client.PutObject(ctx, in); err != nil {
		return meta.preconditionErr(key, mapS3Error("put", key, err))
	}
	return nil
}

// setHeaders copies the non-empty headers of meta to the fields of an
// SDK input.
func setHeaders(meta PutOptions, contentType, cacheControl, contentEncoding, contentDisposition, contentLanguage **string) {
	for _, f := range []struct {
		dst **string
		v   string
	}{
		{contentType, meta.ContentType},
		{cacheControl, meta.CacheControl},
		{contentEncoding, meta.ContentEncoding},
		{contentDisposition, meta.ContentDisposition},
		{contentLanguage, meta.ContentLanguage},
	} {
		if f.v != "" {
			*f.dst = aws.String(f.v)
		}
	}
}

// partReader cuts a body into parts.
type partReader struct {
	key  string
	body io.Reader
	// size is the body's announced length, negative when unknown.
	size int64
	read int64
	// peeked is a byte read ahead to learn whether the last part was the
	// last; it starts the next part.
	peeked  [1]byte
	hasPeek bool
}

// next fills buf (or, for the end of a body of known size, its start)
// with the next part, and reports whether it is the last part.
func (r *partReader) next(buf []byte) (n int, last bool, err error) {
	want := int64(len(buf))
	if r.size >= 0 {
		want = min(want, r.size-r.read+btoi(r.hasPeek))
	}
	if r.hasPeek {
		buf[0] = r.peeked[0]
		r.hasPeek = false
		n = 1
	}
	m, eof, err := readFull(r.body, buf[n:want])
	n += m
	r.read += int64(m)
	switch {
	case err != nil:
		return n, false, bodyErr(r.key, err)
	case eof:
		if r.size >= 0 && r.read < r.size {
			return n, true, sizeErr(r.key, r.read, r.size)
		}
		return n, true, nil
	}
	// The part is full: peek to learn whether the body goes on.
	p, _, err := readFull(r.body, r.peeked[:])
	switch {
	case err != nil:
		return n, false, bodyErr(r.key, err)
	case p > 0 && r.size >= 0 && r.read == r.size:
		return n, true, fmt.Errorf("put %s: body is longer than %d bytes: %w", QuoteKey(r.key), r.size, ErrBodySize)
	case p > 0:
		r.hasPeek = true
		r.read++
		return n, false, nil
	case r.size >= 0 && r.read < r.size: // the body ended early
		return n, true, sizeErr(r.key, r.read, r.size)
	}
	return n, true, nil
}

// btoi is 1 for true.
func btoi(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// bufPools keeps part buffers between uploads, one pool per part size.
var bufPools sync.Map // int64 → *sync.Pool of *[]byte

// partBuffers are the buffers of one upload: at most limit are out at a
// time, and those returned are reused, so the upload allocates at most
// limit buffers whatever its number of parts.
type partBuffers struct {
	size   int64
	tokens chan struct{}
	mu     sync.Mutex
	free   []*[]byte
}

func newPartBuffers(size int64, limit int) *partBuffers {
	return &partBuffers{size: size, tokens: make(chan struct{}, limit)}
}

// get waits for a free buffer.
func (p *partBuffers) get(ctx context.Context) (*[]byte, error) {
	select {
	case p.tokens <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		buf := p.free[n-1]
		p.free = p.free[:n-1]
		return buf, nil
	}
	pool, _ := bufPools.LoadOrStore(p.size, &sync.Pool{})
	if buf, ok := pool.(*sync.Pool).Get().(*[]byte); ok {
		return buf, nil
	}
	buf := make([]byte, p.size)
	return &buf, nil
}

// put returns a buffer.
func (p *partBuffers) put(buf *[]byte) {
	p.mu.Lock()
	p.free = append(p.free, buf)
	p.mu.Unlock()
	<-p.tokens
}

// release hands the upload's buffers to the shared pool once every buffer
// is back.
func (p *partBuffers) release() {
	pool, _ := bufPools.LoadOrStore(p.size, &sync.Pool{})
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, buf := range p.free {
		pool.(*sync.Pool).Put(buf)
	}
	p.free = nil
}

// part is one part of a multipart upload, ready to be sent.
type part struct {
	// n is the part's length.
	n int64
	// open returns a reader of the part's bytes from their start, for
	// each attempt.
	open func() io.ReadSeeker
	// readErr returns the body's error if reading the part failed while
	// it was sent (a section of a file), else nil.
	readErr func() error
	// done returns what the part holds (its buffer).
	done func()
}

// partSource cuts a Put's body into parts.
type partSource interface {
	// next returns the next part, and whether it is the last one.
	next(ctx context.Context) (p part, last bool, err error)
}

// bufferedSource reads the body into reused buffers, one per part.
type bufferedSource struct {
	bufs *partBuffers
	r    *partReader
}

func (s *bufferedSource) next(ctx context.Context) (part, bool, error) {
	buf, err := s.bufs.get(ctx)
	if err != nil {
		return part{}, false, fmt.Errorf("put %s: %w", QuoteKey(s.r.key), err)
	}
	if err := ctx.Err(); err != nil { // get may win a race with ctx
		s.bufs.put(buf)
		return part{}, false, fmt.Errorf("put %s: %w", QuoteKey(s.r.key), context.Cause(ctx))
	}
	n, last, err := s.r.next(*buf)
	if err != nil {
		s.bufs.put(buf)
		return part{}, false, err
	}
	data := (*buf)[:n]
	return part{
		n:       int64(n),
		open:    func() io.ReadSeeker { return bytes.NewReader(data) },
		readErr: func() error { return nil },
		done:    func() { s.bufs.put(buf) },
	}, last, nil
}

// sectionSource sends sections of a body that can be read at any offset
// (a file): parts take no memory, and are read again for a retry.
type sectionSource struct {
	key        string
	ra         io.ReaderAt
	base, size int64
	partSize   int64
	off        int64
}

// sections returns a sectionSource for body when it is an io.ReaderAt and
// io.ReadSeeker of known length (an *os.File, a *bytes.Reader), starting
// at its current position; ok is false for other bodies. A body whose
// length is not size is ErrBodySize.
func sections(key string, body io.Reader, size, partSize int64) (src *sectionSource, ok bool, err error) {
	ra, isRA := body.(io.ReaderAt)
	rs, isRS := body.(io.ReadSeeker)
	if !isRA || !isRS || size < 0 {
		return nil, false, nil
	}
	base, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, false, nil
	}
	n, known := remaining(rs)
	if !known {
		return nil, false, nil
	}
	if n != size {
		return nil, true, sizeErr(key, n, size)
	}
	return &sectionSource{key: key, ra: ra, base: base, size: size, partSize: partSize}, true, nil
}

func (s *sectionSource) next(ctx context.Context) (part, bool, error) {
	if err := ctx.Err(); err != nil {
		return part{}, false, fmt.Errorf("put %s: %w", QuoteKey(s.key), context.Cause(ctx))
	}
	off, n := s.base+s.off, min(s.partSize, s.size-s.off)
	s.off += n
	var mu sync.Mutex
	var recs []*recordingReadSeeker
	return part{
		n: n,
		open: func() io.ReadSeeker {
			rec := &recordingReadSeeker{r: io.NewSectionReader(s.ra, off, n)}
			mu.Lock()
			recs = append(recs, rec)
			mu.Unlock()
			return rec
		},
		readErr: func() error {
			mu.Lock()
			defer mu.Unlock()
			for _, rec := range recs {
				if err := rec.readErr(); err != nil {
					return err
				}
			}
			return nil
		},
		done: func() {},
	}, s.off == s.size, nil
}

// multipart is one multipart upload under way.
type multipart struct {
	b    *S3
	key  string
	meta PutOptions
	id   string

	mu    sync.Mutex
	parts []types.CompletedPart
}

// putMultipart stores a body larger than one part, or of unknown length,
// with a multipart upload (or a single PutObject when an unknown length
// turns out to fit in one part).
func (b *S3) putMultipart(ctx context.Context, key string, body io.Reader, size int64, meta PutOptions, plan uploadPlan) (err error) {
	src, ok, err := sections(key, body, size, plan.partSize)
	if err != nil {
		return err
	}
	var source partSource = src
	if !ok {
		bufs := newPartBuffers(plan.partSize, plan.conc+1)
		defer bufs.release()
		source = &bufferedSource{bufs: bufs, r: &partReader{key: key, body: body, size: size}}
	}

	p, last, err := source.next(ctx)
	if err != nil {
		return err
	}
	if last { // an unknown length that fits in one part
		err := b.putObject(ctx, key, p.open(), p.n, meta)
		p.done()
		return err
	}
	if err := b.precheck(ctx, key, meta); err != nil {
		p.done()
		return err
	}
	m := &multipart{b: b, key: key, meta: meta}
	if err := m.create(ctx); err != nil {
		p.done()
		return err
	}
	defer func() {
		if err != nil {
			err = m.abort(ctx, err)
		}
	}()

	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
		cancel(err)
	}
	slots := make(chan struct{}, plan.conc)
	for num := int32(1); ; num++ {
		select {
		case slots <- struct{}{}:
		case <-pctx.Done():
		}
		if pctx.Err() != nil {
			p.done()
			fail(fmt.Errorf("put %s: %w", QuoteKey(key), context.Cause(pctx)))
			break
		}
		wg.Add(1)
		go func(num int32, p part) {
			defer wg.Done()
			defer func() { <-slots; p.done() }()
			if err := m.uploadPart(pctx, num, p); err != nil {
				fail(err)
			}
		}(num, p)
		if last {
			break
		}
		if num == MaxParts {
			fail(fmt.Errorf("put %s: body is longer than %d parts of %d bytes: %w", QuoteKey(key), MaxParts, plan.partSize, ErrTooLarge))
			break
		}
		if p, last, err = source.next(pctx); err != nil {
			fail(err)
			break
		}
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return m.complete(ctx)
}

// precheck evaluates the conditions of meta with a HEAD before a multipart
// upload sends its parts. It is advisory (the object may change before
// the upload completes; the bucket checks again then): it spares the
// upload of an object that would be refused at the end.
func (b *S3) precheck(ctx context.Context, key string, meta PutOptions) error {
	if meta.IfNoneMatch == "" && meta.IfMatch == "" {
		return nil
	}
	info, err := b.Head(ctx, key)
	switch {
	case errors.Is(err, ErrNotFound):
		if meta.IfMatch != "" {
			return meta.preconditionErr(key, err)
		}
		return nil
	case err != nil:
		return err
	case meta.IfNoneMatch != "":
		return fmt.Errorf("put %s: an object exists: %w", QuoteKey(key), ErrPreconditionFailed)
	case !matchETag(meta.IfMatch, info.ETag, false):
		return fmt.Errorf("put %s: the object is another version: %w", QuoteKey(key), ErrPreconditionFailed)
	}
	return nil
}

// create starts the upload with the object's metadata.
func (m *multipart) create(ctx context.Context) error {
	in := &s3.CreateMultipartUploadInput{Bucket: &m.b.bucket, Key: &m.key, Metadata: m.meta.Metadata}
	setHeaders(m.meta, &in.ContentType, &in.CacheControl, &in.ContentEncoding, &in.ContentDisposition, &in.ContentLanguage)
	bc := m.b.bound(ctx)
	defer bc.release()
	out, err := m.b.client.CreateMultipartUpload(bc.ctx, in)
	if err := bc.done(m.b, "put", m.key, err, nil); err != nil {
		return fmt.Errorf("%w (starting a multipart upload)", err)
	}
	if aws.ToString(out.UploadId) == "" {
		return fmt.Errorf("put %s: the bucket started a multipart upload without an ID", QuoteKey(m.key))
	}
	m.id = *out.UploadId
	return nil
}

// noRetry turns off the SDK's retries for one call: uploadPart retries
// on its own terms.
func noRetry(o *s3.Options) { o.Retryer = aws.NopRetryer{} }

// uploadPart sends part num, retrying transient failures.
func (m *multipart) uploadPart(ctx context.Context, num int32, p part) error {
	wait := partBackoff
	for attempt := 1; ; attempt++ {
		out, err := m.b.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:        &m.b.bucket,
			Key:           &m.key,
			UploadId:      &m.id,
			PartNumber:    aws.Int32(num),
			Body:          p.open(),
			ContentLength: aws.Int64(p.n),
		}, noRetry)
		if err == nil {
			m.mu.Lock()
			m.parts = append(m.parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
			m.mu.Unlock()
			return nil
		}
		if rerr := p.readErr(); rerr != nil {
			return bodyErr(m.key, rerr)
		}
		if attempt == partAttempts || ctx.Err() != nil || retryables.IsErrorRetryable(err) != aws.TrueTernary {
			if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
				// Another part's failure or the caller stopped this one.
				return fmt.Errorf("put %s: %w", QuoteKey(m.key), cause)
			}
			return fmt.Errorf("%w (part %d, attempt %d)", mapS3Error("put", m.key, err), num, attempt)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("put %s: %w", QuoteKey(m.key), context.Cause(ctx))
		}
		wait *= 2
	}
}

// complete assembles the parts, in order, into the object, with the
// conditions of the Put.
func (m *multipart) complete(ctx context.Context) error {
	slices.SortFunc(m.parts, func(a, b types.CompletedPart) int {
		return int(aws.ToInt32(a.PartNumber)) - int(aws.ToInt32(b.PartNumber))
	})
	in := &s3.CompleteMultipartUploadInput{
		Bucket:          &m.b.bucket,
		Key:             &m.key,
		UploadId:        &m.id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: m.parts},
	}
	if m.meta.IfNoneMatch != "" {
		in.IfNoneMatch = aws.String(m.meta.IfNoneMatch)
	}
	if m.meta.IfMatch != "" {
		in.IfMatch = aws.String(m.meta.IfMatch)
	}
	if _, err := m.b.client.CompleteMultipartUpload(ctx, in); err != nil {
		return m.meta.preconditionErr(m.key, mapS3Error("put", m.key, err))
	}
	return nil
}

// abort ends the failed upload, so the bucket drops its parts, and
// returns cause, the reason it failed, with the abort's own failure if
// any.
func (m *multipart) abort(ctx context.Context, cause error) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	err := m.b.AbortUpload(actx, Upload{Key: m.key, UploadID: m.id})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w; then aborting the upload failed: %v", cause, err)
	}
	return cause
}

// PlainETag returns the ETag S3 and R2 give an object stored with a
// single PutObject: the quoted hex MD5 of its content.
func PlainETag(r io.Reader) (string, error) {
	h := md5.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("plain ETag: reading: %w", err)
	}
	return `"` + hex.EncodeToString(h.Sum(nil)) + `"`, nil
}

// MultipartETag returns the ETag S3 and R2 give an object stored with a
// multipart upload of partSize parts (0 means DefaultPartSize): the quoted
// hex MD5 of the concatenated binary MD5s of the parts, a dash and the
// number of parts, "<hex>-<parts>". Content of at most one part gives
// "<hex>-1" (empty content too): what a one-part upload gets, not what
// S3.Put stores such content with (one PutObject; see PutETag).
func MultipartETag(r io.Reader, partSize int64) (string, error) {
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	if partSize < 0 {
		return "", fmt.Errorf("multipart ETag: negative part size %d", partSize)
	}
	var sums []byte
	parts := 0
	h := md5.New()
	for {
		h.Reset()
		n, err := io.Copy(h, io.LimitReader(r, partSize))
		if err != nil {
			return "", fmt.Errorf("multipart ETag: reading part %d: %w", parts+1, err)
		}
		if n == 0 && parts > 0 {
			break
		}
		sums = h.Sum(sums)
		parts++
		if n < partSize {
			break
		}
	}
	sum := md5.Sum(sums)
	return `"` + hex.EncodeToString(sum[:]) + "-" + strconv.Itoa(parts) + `"`, nil
}

// PutETag returns the ETag S3.Put gives content of size bytes read from r
// with parts of partSize (0 means DefaultPartSize): PlainETag when it is
// stored with one PutObject (size at most partSize), else MultipartETag.
// Other writers (the AWS CLI, rclone, R2's dashboard) may choose other
// part sizes, hence other ETags, for the same content. r must hold size
// bytes.
func PutETag(r io.Reader, size, partSize int64) (string, error) {
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	cr := &countingReader{r: r}
	var tag string
	var err error
	if size <= partSize {
		tag, err = PlainETag(cr)
	} else {
		tag, err = MultipartETag(cr, partSize)
	}
	if err != nil {
		return "", err
	}
	if cr.n != size {
		return "", fmt.Errorf("put ETag: content has %d bytes, want %d: %w", cr.n, size, ErrBodySize)
	}
	return tag, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
