package r2event

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

const (
	evPut    = `{"account":"0a1b","action":"PutObject","bucket":"assets","object":{"key":"img/cat.jpg","size":48213,"eTag":"9e10"},"eventTime":"2026-11-20T10:15:02.118Z"}`
	evDelete = `{"account":"0a1b","action":"DeleteObject","bucket":"assets","object":{"key":"img/old.png"},"eventTime":"2026-11-20T10:16:40.004Z"}`
	evCopy   = `{"account":"0a1b","action":"CopyObject","bucket":"assets","object":{"key":"img/new.jpg","size":48213,"eTag":"9e10"},"eventTime":"2026-11-20T10:17:11.530Z","copySource":{"bucket":"assets","object":"img/cat.jpg"}}`
)

// summary renders events as "action bucket/key" lines, "-" for a zero
// event.
func summary(events []Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		if e == (Event{}) {
			out[i] = "-"
			continue
		}
		out[i] = e.Action + " " + e.Bucket + "/" + e.Object.Key
	}
	return out
}

func TestParseR2Events(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte(evDelete))
	quoted, _ := json.Marshal(evCopy)
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"one message", evPut, []string{"PutObject assets/img/cat.jpg"}},
		{"one message with spaces around", "\n " + evPut + "\t\n", []string{"PutObject assets/img/cat.jpg"}},
		{"an array of messages", "[" + evPut + "," + evDelete + "]",
			[]string{"PutObject assets/img/cat.jpg", "DeleteObject assets/img/old.png"}},
		{"a queue batch", `{"messages":[{"id":"m1","body":` + evDelete + `},{"id":"m2","body":` + evCopy + `}]}`,
			[]string{"DeleteObject assets/img/old.png", "CopyObject assets/img/new.jpg"}},
		{"a pull API answer with a string and a base64 body",
			`{"success":true,"errors":[],"messages":[],"result":{"messages":[{"body":` + string(quoted) + `},{"body":"` + b64 + `"}]}}`,
			[]string{"CopyObject assets/img/new.jpg", "DeleteObject assets/img/old.png"}},
		{"an array of queue messages", `[{"body":` + evPut + `}]`, []string{"PutObject assets/img/cat.jpg"}},
		{"a message without a bucket", `{"action":"PutObject","object":{"key":"a"}}`, []string{"PutObject /a"}},
		{"a body inside a body is not unwrapped twice", `[{"body":{"body":` + evPut + `}}]`, []string{"-"}},
		{"unreadable messages are zero events", `[1, "not base64!", {"action":"PutObject","object":"x"}, null]`,
			[]string{"-", "-", "-", "-"}},
		{"an empty batch", `{"messages":[]}`, []string{}},
		{"an empty array", `[]`, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := Parse([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(events); !slices.Equal(got, tt.want) {
				t.Errorf("events %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseR2EventsRefusals(t *testing.T) {
	for name, body := range map[string]string{
		"empty body":     ``,
		"only spaces":    "  \n",
		"malformed JSON": `{"action":"PutObject"`,
		"a number":       `42`,
		"a string":       `"PutObject"`,
		"null":           `null`,
		"two objects":    evPut + evPut,
	} {
		t.Run(name, func(t *testing.T) {
			if events, err := Parse([]byte(body)); err == nil {
				t.Errorf("no error; events %q", summary(events))
			}
		})
	}
}

func TestR2EventChangesObject(t *testing.T) {
	tests := []struct {
		action, key string
		want        bool
	}{
		{"PutObject", "a", true},
		{"CopyObject", "a", true},
		{"CompleteMultipartUpload", "a", true},
		{"DeleteObject", "a", true},
		{"LifecycleDeletion", "a", true},
		{"deleteobject", "a", true},
		{"PUTOBJECT", "a", true},
		{"PutObject", "", false},
		{"GetObject", "a", false},
		{"", "a", false},
	}
	for _, tt := range tests {
		e := Event{Action: tt.action, Object: Object{Key: tt.key}}
		if got := e.ChangesObject(); got != tt.want {
			t.Errorf("%q on %q: ChangesObject() = %v, want %v", tt.action, tt.key, got, tt.want)
		}
	}
}

func FuzzParseR2Events(f *testing.F) {
	for _, s := range []string{evPut, "[" + evDelete + "]", `{"messages":[{"body":` + evCopy + `}]}`,
		`{"result":{"messages":[{"body":"e30="}]}}`, `[1,"x",null]`, `{"body":"` + strings.Repeat("A", 8) + `"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := Parse(body)
		if err != nil {
			return
		}
		// Each message takes at least two bytes of the body (a value and
		// a separator, or the brackets around it).
		if len(events) > len(body)/2+1 {
			t.Errorf("%d events from %d bytes", len(events), len(body))
		}
		for _, ev := range events {
			if ev.ChangesObject() && ev.Object.Key == "" {
				t.Errorf("an event without a key changes an object: %+v", ev)
			}
		}
	})
}
