package caddymodule

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzForwardedPurge: whatever a peer (or anyone holding the secret)
// posts, forwardedPurge tells a forwarded purge from an R2 event body by
// its "forwarded" member alone, accepts only {"forwarded": true} with a
// 32-hex-digit id and between 1 and purgeMaxItems keys and prefixes that
// an object can have, and what it accepts survives a round trip: encoded
// again it reads the same, under the same id.
func FuzzForwardedPurge(f *testing.F) {
	id := strings.Repeat("0123456789abcdef", 2)
	for _, s := range []string{
		`{"forwarded":true,"id":"` + id + `","purges":[{"bucket":"assets","keys":["a.jpg"],"prefixes":["img/"]}]}`,
		`{"forwarded":true,"id":"` + strings.ToUpper(id) + `","purges":[{"prefixes":[""]}]}`,
		`{"forwarded":false,"id":"` + id + `","purges":[{"keys":["a"]}]}`,
		`{"forwarded":true,"id":"` + id[:31] + `","purges":[{"keys":["a"]}]}`,
		`{"forwarded":true,"id":"` + id + `","purges":[{"keys":[""]}]}`,
		`{"forwarded":true,"id":"` + id + `","purges":[{"keys":["a\u0000b"]}]}`,
		"{\"forwarded\":true,\"id\":\"" + id + "\",\"purges\":[{\"keys\":[\"\xff\"]}]}",
		`{"forwarded":true,"id":"` + id + `","purges":[]}`,
		`{"forwarded":true,"id":"` + id + `","purges":[{"keys":["a"]}],"extra":1}`,
		`{"forwarded":true,"id":"` + id + `","purges":[{"keys":["a"]}]} {}`,
		`{"forwarded":null}`, `{"action":"PutObject","bucket":"assets","object":{"key":"a"}}`,
		`[{"forwarded":true}]`, `{"forwarded":"yes"}`, `{"Forwarded":true,"ID":"` + id + `","Purges":[{"Keys":["a"]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, pid, ok, err := forwardedPurge(body)
		if !ok {
			if err != nil {
				t.Fatalf("not a forwarded purge, yet an error: %v", err)
			}
			return
		}
		if err != nil {
			return
		}
		if !b.Forwarded {
			t.Fatal(`accepted without "forwarded": true`)
		}
		if !strings.EqualFold(pid.String(), b.ID) {
			t.Fatalf("id %q read as %s", b.ID, pid)
		}
		if back, err := parsePurgeID(pid.String()); err != nil || back != pid {
			t.Fatalf("id %s does not round-trip: %s, %v", pid, back, err)
		}
		n := 0
		for _, p := range b.Purges {
			n += len(p.Keys) + len(p.Prefixes)
			for _, k := range p.Keys {
				if k == "" || checkPurgeKey(k) != nil {
					t.Fatalf("accepted key %q", k)
				}
			}
			for _, k := range p.Prefixes {
				if checkPurgeKey(k) != nil {
					t.Fatalf("accepted prefix %q", k)
				}
			}
		}
		if n < 1 || n > purgeMaxItems {
			t.Fatalf("accepted %d keys and prefixes", n)
		}
		again, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		b2, pid2, ok2, err := forwardedPurge(again)
		if !ok2 || err != nil || pid2 != pid || !reflect.DeepEqual(normalizePeerBody(b2), normalizePeerBody(b)) {
			t.Fatalf("%s re-encoded as %s reads %+v, %v, %v", body, again, b2, ok2, err)
		}
	})
}

// normalizePeerBody drops the difference between an empty list and none,
// which omitempty erases on the way out.
func normalizePeerBody(b peerBody) peerBody {
	for i := range b.Purges {
		if len(b.Purges[i].Keys) == 0 {
			b.Purges[i].Keys = nil
		}
		if len(b.Purges[i].Prefixes) == 0 {
			b.Purges[i].Prefixes = nil
		}
	}
	return b
}
