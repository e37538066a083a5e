// Package r2event decodes Cloudflare R2 event notifications, as a Queues
// consumer forwards them: one message, an array of messages, or a Queues
// batch. It knows nothing of caches or HTTP; r2gate's purge webhook reads
// its events.
package r2event

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Event is the part of an R2 event notification message r2gate reads;
// other fields (account, object size and eTag, eventTime, copySource) are
// ignored.
type Event struct {
	// Action is what happened: PutObject, CopyObject,
	// CompleteMultipartUpload, DeleteObject, LifecycleDeletion.
	Action string `json:"action"`
	// Bucket is the bucket's name; empty when the message does not say.
	Bucket string `json:"bucket"`
	// Object is the object the action applies to.
	Object Object `json:"object"`
}

// Object is the object of an event.
type Object struct {
	// Key is the object's key in the bucket.
	Key string `json:"key"`
}

// ChangesObject reports whether the event creates, overwrites or deletes
// the object at its key: actions PutObject, CopyObject,
// CompleteMultipartUpload, DeleteObject and LifecycleDeletion (in any
// case) with a non-empty key.
func (e Event) ChangesObject() bool {
	if e.Object.Key == "" {
		return false
	}
	switch strings.ToLower(e.Action) {
	case "putobject", "copyobject", "completemultipartupload", // object-create
		"deleteobject", "lifecycledeletion": // object-delete
		return true
	}
	return false
}

// Parse reads a body of event messages: one message, an array of
// messages, or a Queues batch {"messages": [{"body": ...}]} (also inside
// the pull API's {"result": {...}} envelope). A message body may be the
// event object, a JSON string holding it, or base64 of it. Messages it
// cannot read come back as zero Events (whose ChangesObject is false), so
// one odd message never spoils a batch; the error is for a body that is
// not JSON of one of those shapes.
func Parse(body []byte) ([]Event, error) {
	body = bytes.TrimSpace(body)
	if !json.Valid(body) {
		return nil, errors.New("malformed JSON")
	}
	var raws []json.RawMessage
	switch body[0] {
	case '[':
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, fmt.Errorf("malformed JSON: %w", err)
		}
	case '{':
		var probe struct {
			Action   *string           `json:"action"`
			Messages []json.RawMessage `json:"messages"`
			Result   *struct {
				Messages []json.RawMessage `json:"messages"`
			} `json:"result"`
		}
		err := json.Unmarshal(body, &probe)
		switch {
		case err != nil || probe.Action != nil:
			raws = []json.RawMessage{body} // a message, read or ignored below
		case probe.Result != nil && probe.Result.Messages != nil:
			raws = probe.Result.Messages // pull API envelope
		case probe.Messages != nil:
			raws = probe.Messages
		default:
			raws = []json.RawMessage{body}
		}
	default:
		return nil, errors.New("body is not a message, an array of messages or a batch")
	}
	events := make([]Event, len(raws))
	for i, raw := range raws {
		events[i] = decodeMessage(raw, true)
	}
	return events, nil
}

// decodeMessage reads one message: the event object itself, a queue
// message {"body": <event>}, or either as a JSON string or base64 text.
func decodeMessage(raw json.RawMessage, unwrap bool) Event {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return Event{}
		}
		s = strings.TrimSpace(s)
		if !strings.HasPrefix(s, "{") {
			dec, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return Event{}
			}
			s = string(dec)
		}
		raw = json.RawMessage(s)
	}
	var m struct {
		Event
		Body json.RawMessage `json:"body"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return Event{}
	}
	if m.Action == "" && len(m.Body) > 0 && unwrap {
		return decodeMessage(m.Body, false)
	}
	return m.Event
}
