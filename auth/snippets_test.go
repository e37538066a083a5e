package auth

import (
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The README's Python and JavaScript signers are testdata/sign.py and
// testdata/sign.mjs. testdata/snippet_vectors.tsv holds their recorded
// output, so the Go side is checked against them even where python3 and node
// are not installed; where they are, the scripts are run as well.

type snippetVector struct {
	path, kid, secret string
	exp               int64
	signed            string
	params            []string // name=value, decoded
}

func readSnippetVectors(t *testing.T) []snippetVector {
	t.Helper()
	var vs []snippetVector
	for _, cols := range readTSV(t, "testdata/snippet_vectors.tsv", 5) {
		exp, err := strconv.ParseInt(cols[3], 10, 64)
		if err != nil {
			t.Fatalf("bad exp in %q: %v", cols, err)
		}
		vs = append(vs, snippetVector{path: cols[0], kid: cols[1], secret: cols[2], exp: exp, signed: cols[4], params: cols[5:]})
	}
	if len(vs) == 0 {
		t.Fatal("no vectors in testdata/snippet_vectors.tsv")
	}
	return vs
}

func (v snippetVector) goSign() string {
	q := url.Values{}
	for _, p := range v.params {
		name, value, _ := strings.Cut(p, "=")
		q.Set(name, value)
	}
	return Sign(v.path, q, v.kid, []byte(v.secret), time.Unix(v.exp, 0))
}

// checkSigned verifies signed (a path?query as a signer printed it) with
// v's key just before and at expiry.
func (v snippetVector) checkSigned(t *testing.T, signed string) {
	t.Helper()
	path, rawQuery, ok := strings.Cut(signed, "?")
	if !ok {
		t.Fatalf("%q has no query", signed)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		t.Fatalf("%q: %v", signed, err)
	}
	now := time.Unix(v.exp-1, 0)
	s := &SignedURLs{Keys: []Key{{ID: v.kid, Secret: []byte(v.secret)}}, Now: func() time.Time { return now }}
	if err := s.Verify(path, q); err != nil {
		t.Errorf("Verify(%q) = %v", signed, err)
	}
	now = time.Unix(v.exp, 0)
	if err := s.Verify(path, q); Reason(err) != ReasonExpired {
		t.Errorf("Verify(%q) at exp = %v, want expired", signed, err)
	}
}

func TestSnippetVectorsMatchSign(t *testing.T) {
	for _, v := range readSnippetVectors(t) {
		t.Run(v.path, func(t *testing.T) {
			if got := v.goSign(); got != v.signed {
				t.Errorf("Sign = %q\nrecorded snippet output %q", got, v.signed)
			}
			v.checkSigned(t, v.signed)
		})
	}
}

func TestSnippetScripts(t *testing.T) {
	vectors := readSnippetVectors(t)
	for _, s := range []struct{ interpreter, script string }{
		{"python3", "testdata/sign.py"},
		{"node", "testdata/sign.mjs"},
	} {
		t.Run(s.interpreter, func(t *testing.T) {
			bin, err := exec.LookPath(s.interpreter)
			if err != nil {
				// Not a skip: TestSnippetVectorsMatchSign covers the
				// recorded output of this script.
				t.Logf("%s not on PATH; only the recorded vectors are checked", s.interpreter)
				return
			}
			for _, v := range vectors {
				args := append([]string{s.script, v.path, v.kid, v.secret, strconv.FormatInt(v.exp, 10)}, v.params...)
				out, err := exec.Command(bin, args...).Output()
				if err != nil {
					var stderr string
					if ee, ok := err.(*exec.ExitError); ok {
						stderr = string(ee.Stderr)
					}
					t.Fatalf("%s %s: %v\n%s", s.interpreter, strings.Join(args, " "), err, stderr)
				}
				got := strings.TrimSuffix(string(out), "\n")
				if want := v.goSign(); got != want {
					t.Errorf("%s signed %q as\n %q\nSign gives\n %q", s.interpreter, v.path, got, want)
				}
				if got != v.signed {
					t.Errorf("%s signed %q as %q, recorded %q", s.interpreter, v.path, got, v.signed)
				}
				v.checkSigned(t, got)
			}
		})
	}
}
