package caddymodule

// The receiving side of the purge fan-out: r2gate_purge takes a
// forwarded purge (fanout.go) from a peer, applies it once per purge id,
// and never forwards it again.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// forwardedPurge reads body as a forwarded purge. ok is false when the
// body is not one (no "forwarded" member: an R2 event message or batch);
// err says why a body that is one is malformed.
func forwardedPurge(body []byte) (b peerBody, id purgeID, ok bool, err error) {
	var probe struct {
		Forwarded json.RawMessage `json:"forwarded"`
	}
	if json.NewDecoder(bytes.NewReader(body)).Decode(&probe) != nil || probe.Forwarded == nil {
		return b, id, false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return b, id, true, fmt.Errorf("malformed forwarded purge: %w", err)
	}
	if dec.More() {
		return b, id, true, errors.New("malformed forwarded purge: data after the object")
	}
	if !b.Forwarded {
		return b, id, true, errors.New(`a forwarded purge has "forwarded": true`)
	}
	if id, err = parsePurgeID(b.ID); err != nil {
		return b, id, true, err
	}
	n := 0
	for _, p := range b.Purges {
		n += len(p.Keys) + len(p.Prefixes)
		for _, k := range p.Keys {
			if k == "" {
				return b, id, true, errors.New("empty key")
			}
			if err := checkPurgeKey(k); err != nil {
				return b, id, true, err
			}
		}
		for _, k := range p.Prefixes { // "" is everything: only peers say so
			if err := checkPurgeKey(k); err != nil {
				return b, id, true, err
			}
		}
	}
	if n == 0 {
		return b, id, true, errors.New("nothing to purge")
	}
	if n > purgeMaxItems {
		return b, id, true, fmt.Errorf("too many keys and prefixes: %d (at most %d per request)", n, purgeMaxItems)
	}
	return b, id, true, nil
}

// peerAnswer is r2gate_purge's answer to a forwarded purge.
type peerAnswer struct {
	// Purged is how many cache entries were removed.
	Purged int `json:"purged"`
	// Duplicate is true when the purge id was seen before: nothing was
	// done again.
	Duplicate bool `json:"duplicate,omitempty"`
}

// servePeer applies a forwarded purge, once per id, without forwarding
// it. With a bucket set on the webhook, purges for other buckets are
// skipped and purges of every bucket are limited to it.
func (p *PurgeWebhook) servePeer(w http.ResponseWriter, b peerBody, id purgeID) error {
	app := p.purger()
	if app == nil {
		return writePurgeError(w, http.StatusServiceUnavailable, "no r2gate app is running")
	}
	var ans peerAnswer
	if !app.state.fanout.seen.add(id) {
		ans.Duplicate = true
		app.state.metricSet.peerDuplicates.Inc()
	} else {
		for _, pp := range b.Purges {
			bucket := pp.Bucket
			if p.bucket != "" {
				if bucket != "" && bucket != p.bucket {
					continue
				}
				bucket = p.bucket
			}
			ans.Purged += app.state.registry.purge(bucket, pp.Keys, pp.Prefixes)
		}
		app.state.metricSet.purges.WithLabelValues("peer").Inc()
	}
	if p.logger != nil {
		if ce := p.logger.Check(zapcore.DebugLevel, "purged as a peer asked"); ce != nil {
			ce.Write(zap.String("id", b.ID), zap.Bool("duplicate", ans.Duplicate), zap.Int("purged", ans.Purged))
		}
	}
	return writePurgeJSON(w, http.StatusOK, ans)
}
