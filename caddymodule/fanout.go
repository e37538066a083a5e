package caddymodule

// The purge fan-out: what a node does with the purges it accepts so that
// every peer hears of them, and what it keeps for a peer that is down.
//
// Each peer has an outbox of purged keys and prefixes. A purge appends to
// every outbox and wakes a delivery job for each peer (on a retryq
// queue, whose workers wait idle, so delivery starts at once); the job
// sends what the outbox holds as one or more forwarded purges, each with
// a random 128-bit id, and retries a failed request with backoff (100 ms
// doubling to 5 s) for as long as the peer stays listed and for an hour
// after it leaves the list. Meanwhile new purges pile up in the outbox, up
// to the backlog bound; beyond it the outbox becomes one purge of
// everything. So a peer that was down or unreachable gets what it missed
// within about one retry interval (at most 5 s, plus one request timeout)
// of answering again, and never serves a purged object longer than that.
// The outboxes live in memory: a node that restarts before delivering
// forgets them (the sender of `sync --purge` or the webhook sees the purge
// accepted by the node it called).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/r2gate/r2gate/internal/retryq"
)

const (
	// peerBatchItems bounds the keys and prefixes of one forwarded purge
	// (the receiving webhook's limit).
	peerBatchItems = purgeMaxItems
	// peerBatchBytes bounds the JSON strings of one forwarded purge,
	// well under the receiving webhook's 1 MiB body limit.
	peerBatchBytes = 512 << 10
	// peerUnlistedKeep is how long the outbox of a peer that left the
	// peer list (a reload, DNS) is still retried.
	peerUnlistedKeep = time.Hour
	// peerLogInterval spaces the log lines about one failing peer.
	peerLogInterval = 30 * time.Second
	// peerDrain bounds how long an exiting process keeps delivering.
	peerDrain = 2 * time.Second
)

// purgeItem is one purged key, or one prefix, of a bucket ("": every
// bucket).
type purgeItem struct {
	bucket, key string
	prefix      bool
}

// purgeItems lists a purge's keys and prefixes as items.
func purgeItems(bucket string, keys, prefixes []string) []purgeItem {
	out := make([]purgeItem, 0, len(keys)+len(prefixes))
	for _, k := range keys {
		out = append(out, purgeItem{bucket: bucket, key: k})
	}
	for _, p := range prefixes {
		out = append(out, purgeItem{bucket: bucket, key: p, prefix: true})
	}
	return out
}

// outbox is what waits for one peer: items, or a purge of everything
// (which covers any item added while it waits).
type outbox struct {
	items []purgeItem
	all   bool
}

// add appends items, keeping at most limit; over it, the outbox becomes a
// purge of everything and add reports true.
func (o *outbox) add(items []purgeItem, limit int) (overflowed bool) {
	if o.all || len(items) == 0 {
		return false
	}
	if len(o.items)+len(items) > limit {
		o.items, o.all = nil, true
		return true
	}
	o.items = append(o.items, items...)
	return false
}

// merge adds what o2 holds. A purge of everything in o2 (an overflow
// already counted) replaces what o holds.
func (o *outbox) merge(o2 outbox, limit int) (overflowed bool) {
	if o2.all {
		o.items, o.all = nil, true
		return false
	}
	return o.add(o2.items, limit)
}

func (o *outbox) len() int {
	if o.all {
		return 1
	}
	return len(o.items)
}

// peerBody is a forwarded purge as it goes over the wire to a peer's
// r2gate_purge: {"forwarded": true, "id": "<32 hex digits>", "purges":
// [{"bucket": "assets", "keys": [...], "prefixes": [...]}]}. An empty
// bucket means every bucket; an empty prefix, everything.
type peerBody struct {
	Forwarded bool        `json:"forwarded"`
	ID        string      `json:"id"`
	Purges    []peerPurge `json:"purges"`
}

// peerPurge is the part of a forwarded purge for one bucket.
type peerPurge struct {
	Bucket   string   `json:"bucket,omitempty"`
	Keys     []string `json:"keys,omitempty"`
	Prefixes []string `json:"prefixes,omitempty"`
}

// peerBatch is one forwarded purge, encoded once and sent until a peer
// takes it.
type peerBatch struct {
	id    purgeID
	items int
	body  []byte
}

// take removes from o what fits in one forwarded purge (at least one
// item) and encodes it with a new id.
func (o *outbox) take() (*peerBatch, error) {
	id, err := newPurgeID()
	if err != nil {
		return nil, err
	}
	b := peerBody{Forwarded: true, ID: id.String()}
	n := 0
	if o.all {
		b.Purges = []peerPurge{{Prefixes: []string{""}}}
		o.all, n = false, 1
	} else {
		index := make(map[string]int) // bucket → its purge in b.Purges
		size := 0
		for n < len(o.items) && n < peerBatchItems {
			it := o.items[n]
			size += jsonStringLen(it.key) + jsonStringLen(it.bucket)/4 // a bucket name is shared by many keys
			if n > 0 && size > peerBatchBytes {
				break
			}
			i, ok := index[it.bucket]
			if !ok {
				i = len(b.Purges)
				index[it.bucket] = i
				b.Purges = append(b.Purges, peerPurge{Bucket: it.bucket})
			}
			if it.prefix {
				b.Purges[i].Prefixes = append(b.Purges[i].Prefixes, it.key)
			} else {
				b.Purges[i].Keys = append(b.Purges[i].Keys, it.key)
			}
			n++
		}
		o.items = o.items[n:]
		if len(o.items) == 0 {
			o.items = nil // let the array go
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil {
		return nil, fmt.Errorf("encoding a forwarded purge: %w", err)
	}
	return &peerBatch{id: id, items: n, body: buf.Bytes()}, nil
}

// jsonStringLen is an upper bound of the length of s as a JSON string
// (HTML characters not escaped).
func jsonStringLen(s string) int {
	n := 3 // quotes and a comma
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			n += 2
		case r < 0x20 || r == '\u2028' || r == '\u2029' || r == utf8.RuneError:
			n += 6
		default:
			n += utf8.RuneLen(r)
		}
	}
	return n
}

// peer is one peer's delivery state.
type peer struct {
	url       string
	box       outbox
	inflight  *peerBatch // sent and not yet taken
	scheduled bool       // a delivery job is queued, running or waiting to retry
	failing   bool       // the last request failed
	unlisted  time.Time  // when it left the peer list; zero while listed
}

// fanout forwards purges to the peers. It lives in the app's state, so a
// config reload keeps the outboxes; configure swaps the peers. It is safe
// for concurrent use.
type fanout struct {
	q       *retryq.Queue
	client  *http.Client
	seen    idSet
	metrics *metricSet
	logs    *logLimiter

	mu           sync.Mutex
	cfg          *peerConfig // nil: no peers
	logger       *zap.Logger
	pending      outbox // purges not yet handed to the peers' outboxes
	distributing bool   // a job is handing pending out
	peers        map[string]*peer
	lastTargets  []string // the last peer list a lookup gave
	now          func() time.Time
}

func newFanout(m *metricSet, logs *logLimiter) *fanout {
	return &fanout{
		metrics: m, logs: logs, logger: zap.NewNop(), now: time.Now,
		peers: make(map[string]*peer),
		client: &http.Client{
			Transport: &http.Transport{
				DialContext:         (&net.Dialer{Timeout: peerTimeout, KeepAlive: 30 * time.Second}).DialContext,
				MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute,
				TLSHandshakeTimeout: peerTimeout, ForceAttemptHTTP2: true,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// configure sets the peers (nil: none) and the logger. The queue starts
// with the first peers.
func (f *fanout) configure(cfg *peerConfig, logger *zap.Logger) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg, f.logger, f.lastTargets = cfg, logger, nil
	if cfg == nil {
		f.pending = outbox{}
		return
	}
	if f.q == nil {
		// Jobs are bounded by design: one to hand purges out, one per
		// peer. Retries wait on timers, not on workers, so a peer that
		// hangs holds one worker per request timeout.
		f.q = retryq.New(retryq.Config{
			Workers: 32, Size: 8192, Attempts: 1 << 30,
			MinDelay: 100 * time.Millisecond, MaxDelay: 5 * time.Second,
		})
	}
	if f.pending.len() > 0 {
		f.kickLocked()
	}
}

// send forwards a purge this node accepted to every peer, in the
// background.
func (f *fanout) send(items []purgeItem) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cfg == nil || len(items) == 0 {
		return
	}
	if f.pending.add(items, f.cfg.backlog) {
		f.metrics.peerOverflows.Inc()
	}
	f.kickLocked()
}

// kickLocked queues the job that hands pending purges to the peers,
// unless one is queued.
func (f *fanout) kickLocked() {
	if f.distributing {
		return
	}
	f.distributing = true
	if err := f.q.Submit("purge fan-out", f.distribute); err != nil {
		f.distributing = false // kept in pending for the next purge
	}
}

// distribute looks the peers up and hands the pending purges to their
// outboxes. A failed lookup with no earlier answer is retried.
func (f *fanout) distribute(ctx context.Context) error {
	f.mu.Lock()
	cfg := f.cfg
	f.mu.Unlock()
	var targets []string
	var err error
	if cfg != nil {
		targets, err = cfg.targets(ctx)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cfg != cfg { // reconfigured meanwhile: the new peers get it
		f.distributing = false
		if f.cfg != nil {
			f.kickLocked()
		}
		return nil
	}
	if err != nil {
		f.logFailure("lookup", "looking up the purge peers failed; using the last list found, if any", err)
		if f.lastTargets == nil && len(targets) == 0 {
			return err // retried with backoff; pending waits
		}
		if f.lastTargets != nil {
			targets = f.lastTargets
		}
	} else {
		f.lastTargets = targets
	}
	box := f.pending
	f.pending = outbox{}
	f.distributing = false

	now := f.now()
	listed := make(map[string]bool, len(targets))
	for _, u := range targets {
		listed[u] = true
		p := f.peers[u]
		if p == nil {
			p = &peer{url: u}
			f.peers[u] = p
		}
		p.unlisted = time.Time{}
		if p.box.merge(box, cfg.backlog) {
			f.metrics.peerOverflows.Inc()
		}
		f.scheduleLocked(p)
	}
	for u, p := range f.peers {
		if listed[u] {
			continue
		}
		if p.unlisted.IsZero() {
			p.unlisted = now
		}
		if !p.scheduled && p.box.len() == 0 && p.inflight == nil {
			delete(f.peers, u)
		}
	}
	return nil
}

// scheduleLocked queues p's delivery job unless it has one.
func (f *fanout) scheduleLocked(p *peer) {
	if p.scheduled || (p.box.len() == 0 && p.inflight == nil) {
		return
	}
	p.scheduled = true
	if err := f.q.Submit("purge to a peer", func(ctx context.Context) error { return f.deliver(ctx, p) }); err != nil {
		p.scheduled = false // the outbox waits for the next purge
	}
}

// errPeerRefused: a peer answered 400 or 413 to a forwarded purge, which
// no retry can change.
var errPeerRefused = errors.New("the peer refused the forwarded purge")

// deliver sends p's outbox until it is empty. A failed request returns
// its error, and the queue retries the job after a backoff.
func (f *fanout) deliver(ctx context.Context, p *peer) error {
	for {
		f.mu.Lock()
		cfg := f.cfg
		if cfg == nil || (!p.unlisted.IsZero() && f.now().Sub(p.unlisted) > peerUnlistedKeep) {
			if n := p.box.len(); n > 0 || p.inflight != nil {
				f.logger.Warn("dropping purges for a peer that is no longer listed",
					zap.String("peer", p.url), zap.Int("items", n))
			}
			p.box, p.inflight, p.scheduled = outbox{}, nil, false
			if f.peers[p.url] == p {
				delete(f.peers, p.url)
			}
			f.mu.Unlock()
			return nil
		}
		if p.inflight == nil {
			if p.box.len() == 0 {
				p.scheduled = false
				f.mu.Unlock()
				return nil
			}
			b, err := p.box.take()
			if err != nil { // no randomness: nothing sent, nothing kept
				p.scheduled = false
				f.mu.Unlock()
				return nil
			}
			f.seen.add(b.id) // this node's own copy, if it lists itself, is a no-op
			p.inflight = b
		}
		b := p.inflight
		f.mu.Unlock()

		err := f.post(ctx, cfg, p.url, b)

		f.mu.Lock()
		switch {
		case err == nil:
			f.metrics.peerSent.Inc()
			if p.failing {
				f.logger.Info("purge peer answers again; sending what it missed",
					zap.String("peer", p.url), zap.Int("items", b.items+p.box.len()))
			}
			p.inflight, p.failing = nil, false
		case errors.Is(err, errPeerRefused):
			f.metrics.peerErrors.Inc()
			f.logger.Error("a peer refused a forwarded purge; dropped",
				zap.String("peer", p.url), zap.Int("items", b.items), zap.Error(err))
			p.inflight = nil
		default:
			f.metrics.peerErrors.Inc()
			p.failing = true
			f.logFailure("peer "+p.url, "forwarding a purge to a peer failed; retrying", err,
				zap.String("peer", p.url), zap.Int("waiting", b.items+p.box.len()))
			f.mu.Unlock()
			return err
		}
		f.mu.Unlock()
	}
}

// post sends one forwarded purge.
func (f *fanout) post(ctx context.Context, cfg *peerConfig, url string, b *peerBatch) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b.body))
	if err != nil {
		return fmt.Errorf("%w: %v", errPeerRefused, err)
	}
	req.Header.Set("Authorization", cfg.auth)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "r2gate-peer")
	resp, err := f.client.Do(req)
	if err != nil {
		return fmt.Errorf("purge peer: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return fmt.Errorf("%w: %s", errPeerRefused, resp.Status)
	}
	return fmt.Errorf("purge peer answered %s", resp.Status)
}

// logFailure logs a warning at most once per peerLogInterval for key.
// f.mu is held.
func (f *fanout) logFailure(key, msg string, err error, fields ...zap.Field) {
	if ok, held := f.logs.allow("purge "+key, f.now(), peerLogInterval); ok {
		f.logger.Warn(msg, append(fields, zap.Int("unlogged_failures", held), zap.Error(err))...)
	}
}

// waiting counts the items not yet taken by peers, for the backlog gauge.
func (f *fanout) waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.pending.len()
	for _, p := range f.peers {
		n += p.box.len()
		if p.inflight != nil {
			n += p.inflight.items
		}
	}
	return n
}

// close delivers what it can within peerDrain, at exit.
func (f *fanout) close() error {
	f.mu.Lock()
	q := f.q
	f.q = nil
	f.cfg = nil
	f.mu.Unlock()
	if q == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), peerDrain)
	defer cancel()
	return q.Close(ctx)
}
