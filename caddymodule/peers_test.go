package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
)

// peerRecorder is a peer's r2gate_purge as a test server: it records the
// forwarded purges it is sent and fails the first `fail` of them with 503.
type peerRecorder struct {
	mu     sync.Mutex
	fail   int
	auths  []string
	bodies []peerBody
}

func (pr *peerRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.auths = append(pr.auths, r.Header.Get("Authorization"))
	if pr.fail > 0 {
		pr.fail--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var b peerBody
	if err := json.Unmarshal(data, &b); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	pr.bodies = append(pr.bodies, b)
	_, _ = w.Write([]byte(`{"purged":0}`))
}

// items returns the keys and prefixes (prefixes end in "*") the peer
// took, sorted.
func (pr *peerRecorder) items() []string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	var out []string
	for _, b := range pr.bodies {
		for _, p := range b.Purges {
			for _, k := range p.Keys {
				out = append(out, p.Bucket+":"+k)
			}
			for _, k := range p.Prefixes {
				out = append(out, p.Bucket+":"+k+"*")
			}
		}
	}
	slices.Sort(out)
	return out
}

// awaitItems waits until the peer took want.
func (pr *peerRecorder) awaitItems(t *testing.T, want []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := pr.items()
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the peer took %q, want %q", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newPeerTestApp is an app whose bucket "assets" is cached by one fake
// cache (namespace "ns/"), forwarding purges to peers.
func newPeerTestApp(t *testing.T, backlog int, peers ...string) (*App, *fakeCache) {
	t.Helper()
	a := &App{state: newAppState(), logger: zap.NewNop()}
	c := newFakeCache("ns/a.jpg", "ns/a.jpg\x1fw=400", "ns/b.jpg", "ns/css/x.css")
	a.state.registry.register(&Handler{}, cacheUse{bucket: "assets", namespace: "ns/", cache: c})
	var cfg *peerConfig
	if len(peers) > 0 {
		cfg = &peerConfig{static: peers, auth: "Bearer " + testSecret, timeout: time.Second, backlog: backlog}
	}
	a.state.fanout.configure(cfg, zap.NewNop())
	t.Cleanup(func() { _ = a.state.fanout.close() })
	return a, c
}

func TestPeerPurgeIDsAreRandomAndRememberedBounded(t *testing.T) {
	a, err := newPurgeID()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newPurgeID()
	if a == b || len(a.String()) != 32 {
		t.Fatalf("ids %s and %s: want two different 32-digit ids", a, b)
	}
	if got, err := parsePurgeID(a.String()); err != nil || got != a {
		t.Fatalf("parsePurgeID(%s) = %s, %v", a, got, err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("g", 32), a.String() + "00"} {
		if _, err := parsePurgeID(bad); err == nil {
			t.Errorf("parsePurgeID(%q) accepted", bad)
		}
	}
	var s idSet
	if !s.add(a) || s.add(a) {
		t.Fatal("an id must be new once, then seen")
	}
	for i := range idSetSize {
		s.add(purgeID{byte(i), byte(i >> 8), 0xff})
	}
	if !s.add(a) {
		t.Error("the oldest id is still remembered after idSetSize newer ones")
	}
	if len(s.set) != idSetSize || len(s.ring) != idSetSize {
		t.Errorf("the set holds %d ids (ring %d), want %d", len(s.set), len(s.ring), idSetSize)
	}
}

func TestPeerOutboxOverflowBecomesAPurgeOfEverything(t *testing.T) {
	var o outbox
	if o.add(purgeItems("assets", []string{"a", "b"}, []string{"c/"}), 4) {
		t.Fatal("3 items of 4 overflowed")
	}
	if !o.add(purgeItems("assets", []string{"d", "e"}, nil), 4) {
		t.Fatal("5 items of 4 did not overflow")
	}
	if o.add(purgeItems("assets", []string{"f"}, nil), 4) || o.len() != 1 || len(o.items) != 0 {
		t.Fatalf("after the overflow the outbox holds %+v, want only the purge of everything", o)
	}
	b, err := o.take()
	if err != nil {
		t.Fatal(err)
	}
	var body peerBody
	if err := json.Unmarshal(b.body, &body); err != nil {
		t.Fatal(err)
	}
	if !body.Forwarded || len(body.Purges) != 1 || body.Purges[0].Bucket != "" ||
		!slices.Equal(body.Purges[0].Prefixes, []string{""}) || len(body.Purges[0].Keys) != 0 {
		t.Errorf("the overflowed outbox sends %s, want a purge of everything", b.body)
	}
	if o.len() != 0 {
		t.Error("the outbox is not empty after taking the purge of everything")
	}
}

func TestPeerOutboxSplitsIntoBodiesThePeerAccepts(t *testing.T) {
	var o outbox
	var keys []string
	for i := range 25_000 {
		keys = append(keys, fmt.Sprintf("img/%05d.jpg", i))
	}
	o.add(purgeItems("assets", keys, nil), 100_000)
	long := strings.Repeat("\"<é>", 200) // 6 JSON bytes a character at worst
	var longKeys []string
	for range 2000 {
		longKeys = append(longKeys, long)
	}
	o.add(purgeItems("other", longKeys, []string{"p/"}), 100_000)
	total, bodies := 0, 0
	for o.len() > 0 {
		b, err := o.take()
		if err != nil {
			t.Fatal(err)
		}
		bodies++
		if len(b.body) > purgeMaxBody {
			t.Fatalf("body %d is %d bytes, over the webhook's limit", bodies, len(b.body))
		}
		fwd, _, ok, err := forwardedPurge(b.body)
		if !ok || err != nil {
			t.Fatalf("body %d is not a valid forwarded purge: %v", bodies, err)
		}
		for _, p := range fwd.Purges {
			total += len(p.Keys) + len(p.Prefixes)
		}
	}
	if total != 27_001 {
		t.Errorf("the bodies carried %d items, want 27001", total)
	}
	if bodies < 4 {
		t.Errorf("%d bodies: 25000 short keys need 3 and 2000 long ones at least one more", bodies)
	}
}

func TestPeerForwardedPurgeBodies(t *testing.T) {
	id := strings.Repeat("ab", 16)
	cases := []struct {
		name    string
		body    string
		ok, bad bool
	}{
		{"an R2 event is not forwarded", evPut, false, false},
		{"an array is not forwarded", "[" + evPut + "]", false, false},
		{"a forwarded purge", `{"forwarded":true,"id":"` + id + `","purges":[{"bucket":"assets","keys":["a"]}]}`, true, false},
		{"a purge of everything", `{"forwarded":true,"id":"` + id + `","purges":[{"prefixes":[""]}]}`, true, false},
		{"forwarded false", `{"forwarded":false,"id":"` + id + `","purges":[{"keys":["a"]}]}`, true, true},
		{"no id", `{"forwarded":true,"purges":[{"keys":["a"]}]}`, true, true},
		{"a short id", `{"forwarded":true,"id":"abcd","purges":[{"keys":["a"]}]}`, true, true},
		{"an unknown field", `{"forwarded":true,"id":"` + id + `","purges":[{"key":["a"]}]}`, true, true},
		{"nothing to purge", `{"forwarded":true,"id":"` + id + `","purges":[]}`, true, true},
		{"an empty key", `{"forwarded":true,"id":"` + id + `","purges":[{"keys":[""]}]}`, true, true},
		{"a NUL in a key", `{"forwarded":true,"id":"` + id + `","purges":[{"keys":["a\u0000b"]}]}`, true, true},
		{"data after the object", `{"forwarded":true,"id":"` + id + `","purges":[{"keys":["a"]}]} {}`, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, ok, err := forwardedPurge([]byte(c.body))
			if ok != c.ok || (err != nil) != c.bad {
				t.Errorf("forwarded %v, error %v; want forwarded %v, error %v", ok, err, c.ok, c.bad)
			}
		})
	}
}

func TestPeerURLsFromUpstreamDialAddresses(t *testing.T) {
	c := &peerConfig{scheme: "https", path: "/_r2gate/purge"}
	cases := map[string]string{
		"10.0.0.2:8080":      "https://10.0.0.2:8080/_r2gate/purge",
		"tcp/[fd00::2]:443":  "https://[fd00::2]:443/_r2gate/purge",
		"node-3.internal:80": "https://node-3.internal:80/_r2gate/purge",
		"unix//run/r2.sock":  "",
		"10.0.0.2:8080-8090": "",
	}
	for dial, want := range cases {
		if got := c.dialURL(dial); got != want {
			t.Errorf("dialURL(%q) = %q, want %q", dial, got, want)
		}
	}
	for _, bad := range []string{"ftp://x/y", "http:///path", "http://u:p@host/p", "nourl"} {
		if _, err := peerURL(bad); err == nil {
			t.Errorf("peer URL %q accepted", bad)
		}
	}
}

// TestPeerFanoutSendsEveryLocalPurgeWithTheSecret: a purge from each local
// source reaches the peer at once, with the secret, a 128-bit id and the
// forwarded marker; the peer's 503s are retried and counted.
func TestPeerFanoutSendsEveryLocalPurgeWithTheSecret(t *testing.T) {
	rec := &peerRecorder{fail: 2}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	a, c := newPeerTestApp(t, 100, srv.URL+"/_r2gate/purge")

	start := time.Now()
	if n := a.purge("upload", "assets", []string{"a.jpg"}, nil); n != 2 {
		t.Errorf("the local purge removed %d entries, want 2 (the key and its variant)", n)
	}
	a.purge("admin", "", nil, []string{"css/"})
	rec.awaitItems(t, []string{":css/*", "assets:a.jpg"}, 3*time.Second)
	t.Logf("delivered after two 503s in %v", time.Since(start).Round(time.Millisecond))
	if got := c.left(); !slices.Equal(got, []string{"ns/b.jpg"}) {
		t.Errorf("left here %q", got)
	}
	rec.mu.Lock()
	for _, auth := range rec.auths {
		if auth != "Bearer "+testSecret {
			t.Errorf("Authorization %q", auth)
		}
	}
	for _, b := range rec.bodies {
		if !b.Forwarded || len(b.ID) != 32 {
			t.Errorf("body without the marker or a 128-bit id: %+v", b)
		}
	}
	rec.mu.Unlock()
	m := a.state.metricSet
	if got := counterValue(t, m.peerErrors); got != 2 {
		t.Errorf("peer errors %v, want 2", got)
	}
	if got := counterValue(t, m.purges.WithLabelValues("upload")); got != 1 {
		t.Errorf("purges_total{source=upload} %v, want 1", got)
	}
	// The peer has the items; the sender marks them done once it has read
	// the peer's answer, a moment later.
	for deadline := time.Now().Add(3 * time.Second); a.state.fanout.waiting() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("%d items still waiting 3 s after the peer got them", a.state.fanout.waiting())
			break
		}
	}
}

// TestPeerFanoutMissedPurgesReachAPeerThatReturns: purges made while the
// peer is down wait for it and arrive once it listens again on its
// address, within the retry cap.
func TestPeerFanoutMissedPurgesReachAPeerThatReturns(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // the peer is down
	a, _ := newPeerTestApp(t, 100, "http://"+addr+"/_r2gate/purge")
	a.purge("admin", "assets", []string{"a.jpg", "b.jpg"}, nil)
	a.purge("webhook", "assets", []string{"c.jpg"}, nil)
	deadline := time.Now().Add(5 * time.Second)
	for counterValue(t, a.state.metricSet.peerErrors) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no failed delivery to the peer that is down")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := a.state.fanout.waiting(); got != 3 {
		t.Errorf("%d items wait for the peer, want 3", got)
	}
	a.purge("admin", "assets", []string{"d.jpg"}, nil) // while it is down

	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening again on %s: %v", addr, err)
	}
	rec := &peerRecorder{}
	srv := httptest.NewUnstartedServer(rec)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	back := time.Now()
	rec.awaitItems(t, []string{"assets:a.jpg", "assets:b.jpg", "assets:c.jpg", "assets:d.jpg"}, 7*time.Second)
	t.Logf("the returning peer got what it missed %v after it listened again", time.Since(back).Round(time.Millisecond))
}

// TestPeerFanoutBacklogOverflowSendsAPurgeOfEverything: a peer that is
// down while more purges pile up than the backlog holds gets one purge of
// everything when it returns.
func TestPeerFanoutBacklogOverflowSendsAPurgeOfEverything(t *testing.T) {
	rec := &peerRecorder{fail: 1 << 20}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	a, _ := newPeerTestApp(t, 5, srv.URL)
	a.purge("upload", "assets", []string{"first"}, nil)
	deadline := time.Now().Add(5 * time.Second)
	for counterValue(t, a.state.metricSet.peerErrors) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the failing peer was not tried twice")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := range 6 {
		a.purge("upload", "assets", []string{fmt.Sprintf("k%d", i)}, nil)
		time.Sleep(2 * time.Millisecond)
	}
	if got := counterValue(t, a.state.metricSet.peerOverflows); got != 1 {
		t.Fatalf("6 purges waiting for a failing peer with a backlog of 5: %v overflows, want 1", got)
	}
	if got := a.state.fanout.waiting(); got != 2 {
		t.Errorf("waiting %d, want 2 (the purge being retried, and the purge of everything)", got)
	}
	rec.mu.Lock()
	rec.fail = 0
	rec.mu.Unlock()
	deadline = time.Now().Add(7 * time.Second)
	for {
		items := rec.items()
		if slices.Equal(items, []string{":*", "assets:first"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the returning peer got %q, want a purge of everything", items)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newPeerWebhook is r2gate_purge of app a, with the test secret.
func newPeerWebhook(t *testing.T, a *App, bucket string) *PurgeWebhook {
	t.Helper()
	p := &PurgeWebhook{Secret: testSecret, Bucket: bucket, app: a, logger: zap.NewNop()}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	p.secretHash = sha256.Sum256([]byte(testSecret))
	p.bucket = bucket
	return p
}

// TestPeerForwardedPurgeIsAppliedOnceAndNeverForwarded: a node applies a
// peer's purge, does not forward it to its own peers, answers a repeated
// id without purging again, and refuses a wrong secret.
func TestPeerForwardedPurgeIsAppliedOnceAndNeverForwarded(t *testing.T) {
	rec := &peerRecorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	a, c := newPeerTestApp(t, 100, srv.URL)
	p := newPeerWebhook(t, a, "")
	id := strings.Repeat("5a", 16)
	body := `{"forwarded":true,"id":"` + id + `","purges":[{"bucket":"assets","keys":["a.jpg"]}]}`

	if w := webhookCall(t, p, "POST", "Bearer wrong-secret", body); w.Code != http.StatusUnauthorized {
		t.Errorf("a wrong secret got %d, want 401", w.Code)
	}
	if got := len(c.left()); got != 4 {
		t.Fatalf("a refused call purged: %d entries left", got)
	}
	w := webhookCall(t, p, "POST", "Bearer "+testSecret, body)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"purged":2`) {
		t.Fatalf("forwarded purge: %d %s", w.Code, w.Body)
	}
	// A key that comes back is not purged by the same id again.
	c.mu.Lock()
	c.keys["ns/a.jpg"] = true
	c.mu.Unlock()
	w = webhookCall(t, p, "POST", "Bearer "+testSecret, body)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"duplicate":true`) {
		t.Fatalf("repeated id: %d %s", w.Code, w.Body)
	}
	if !slices.Contains(c.left(), "ns/a.jpg") {
		t.Error("a repeated purge id purged again")
	}
	m := a.state.metricSet
	if got := counterValue(t, m.purges.WithLabelValues("peer")); got != 1 {
		t.Errorf("purges_total{source=peer} %v, want 1", got)
	}
	if got := counterValue(t, m.peerDuplicates); got != 1 {
		t.Errorf("duplicates %v, want 1", got)
	}
	// An R2 event at the same endpoint is a local purge: forwarded.
	if w := webhookCall(t, p, "POST", "Bearer "+testSecret, evPut); w.Code != 200 {
		t.Fatalf("R2 event: %d %s", w.Code, w.Body)
	}
	rec.awaitItems(t, []string{"assets:img/cat.jpg"}, 2*time.Second)
	time.Sleep(50 * time.Millisecond)
	if got := rec.items(); len(got) != 1 {
		t.Errorf("the peer's purge was forwarded again: the peer got %q", got)
	}
}

// TestPeerForwardedPurgeKeepsToTheWebhookBucket: a webhook limited to a
// bucket applies a peer's purge of every bucket to its bucket only.
func TestPeerForwardedPurgeKeepsToTheWebhookBucket(t *testing.T) {
	a, c := newPeerTestApp(t, 100)
	other := newFakeCache("o/a.jpg")
	a.state.registry.register(&Handler{Bucket: "x"}, cacheUse{bucket: "other", namespace: "o/", cache: other})
	p := newPeerWebhook(t, a, "other")
	body := `{"forwarded":true,"id":"` + strings.Repeat("01", 16) + `","purges":[{"bucket":"assets","keys":["a.jpg"]},{"prefixes":[""]}]}`
	if w := webhookCall(t, p, "POST", "Bearer "+testSecret, body); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if len(c.left()) != 4 || len(other.left()) != 0 {
		t.Errorf("left in assets %q (want all 4), in other %q (want none)", c.left(), other.left())
	}
}

// counterValue reads a counter.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestPeerDynamicSourceFindsPeers loads Caddy's own `dynamic a` upstream
// source as the app's guest module and makes peer URLs of what it finds
// (localhost from /etc/hosts), with the static ones, each once.
func TestPeerDynamicSourceFindsPeers(t *testing.T) {
	pc := &PeersConfig{
		To:         []string{"http://10.9.9.9:8080/_r2gate/purge", "http://127.0.0.1:8080/_r2gate/purge"},
		DynamicRaw: json.RawMessage(`{"source":"a","name":"localhost","port":"8080","versions":{"ipv4":true}}`),
		Path:       "/_r2gate/purge",
		Secret:     testSecret,
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	cfg, err := pc.provision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.dynamic == nil || cfg.auth != "Bearer "+testSecret || cfg.timeout != peerTimeout || cfg.backlog != peerBacklog {
		t.Fatalf("provisioned %+v", cfg)
	}
	got, err := cfg.targets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"http://10.9.9.9:8080/_r2gate/purge", "http://127.0.0.1:8080/_r2gate/purge"}
	if !slices.Equal(got, want) {
		t.Errorf("peers %q, want %q", got, want)
	}
	for _, bad := range []PeersConfig{
		{Secret: "x"},
		{To: []string{"http://a/p"}},
		{DynamicRaw: json.RawMessage(`{"source":"a","name":"x"}`), Secret: "x"},
		{To: []string{"http://a/p"}, Secret: "x", Scheme: "ftp"},
	} {
		if err := bad.validate(); err == nil {
			t.Errorf("%+v passed validation", bad)
		}
	}
}

// TestPeerFanoutFollowsAReload: the fan-out lives in the app's state; a
// new config's peers replace the old ones, and a config without peers
// forwards nothing.
func TestPeerFanoutFollowsAReload(t *testing.T) {
	oldRec, newRec := &peerRecorder{}, &peerRecorder{}
	oldSrv, newSrv := httptest.NewServer(oldRec), httptest.NewServer(newRec)
	defer oldSrv.Close()
	defer newSrv.Close()
	a, _ := newPeerTestApp(t, 100, oldSrv.URL)
	a.purge("admin", "assets", []string{"one"}, nil)
	oldRec.awaitItems(t, []string{"assets:one"}, 2*time.Second)

	next := &App{state: a.state, logger: zap.NewNop(),
		peers: &peerConfig{static: []string{newSrv.URL}, auth: "Bearer " + testSecret, timeout: time.Second, backlog: 100}}
	if err := next.Start(); err != nil {
		t.Fatal(err)
	}
	next.purge("admin", "assets", []string{"two"}, nil)
	newRec.awaitItems(t, []string{"assets:two"}, 2*time.Second)

	none := &App{state: a.state, logger: zap.NewNop()}
	if err := none.Start(); err != nil {
		t.Fatal(err)
	}
	none.purge("admin", "assets", []string{"three"}, nil)
	time.Sleep(100 * time.Millisecond)
	if got, got2 := oldRec.items(), newRec.items(); len(got) != 1 || len(got2) != 1 {
		t.Errorf("after the reloads the old peer got %q and the new one %q, want one purge each", got, got2)
	}
}
