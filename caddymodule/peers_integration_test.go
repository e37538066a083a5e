package caddymodule_test

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/r2gate/r2gate/internal/s3test"
)

// peerNode is one r2gate node of a test fleet: its own Caddy process,
// admin API and site on free loopback ports.
type peerNode struct {
	admin, port, base, home string
	p                       *caddyProcess
	config                  string
}

// purgeURL is the node's r2gate_purge endpoint.
func (n *peerNode) purgeURL() string { return n.base + "/_r2gate/purge" }

// startPeerFleet starts n nodes over the test bucket, each listing every
// node (itself too) as a peer. disk gives each node a disk tier instead
// of memory, so a restarted node still has what it cached.
func startPeerFleet(t *testing.T, n int, disk bool) []*peerNode {
	t.Helper()
	nodes := make([]*peerNode, n)
	for i := range nodes {
		admin, err := s3test.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		site, err := s3test.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		port := site[strings.LastIndex(site, ":")+1:]
		nodes[i] = &peerNode{admin: admin, port: port, base: "http://127.0.0.1:" + port, home: t.TempDir()}
	}
	var urls []string
	for _, nd := range nodes {
		urls = append(urls, nd.purgeURL())
	}
	for _, nd := range nodes {
		cacheLines := "memory 16MiB"
		if disk {
			cacheLines = "memory 0\n\t\t\tdisk " + filepath.Join(nd.home, "disk") + " 64MiB"
		}
		nd.config = fmt.Sprintf(`{
	admin %[1]s
	persist_config off
	r2gate {
		peers {
			to %[2]s
			secret %[4]s
			timeout 2s
		}
	}
}
http://127.0.0.1:%[3]s {
	bind 127.0.0.1
	r2gate_purge /_r2gate/purge {
		secret %[4]s
	}
	@write method PUT DELETE
	route @write {
		r2gate {
			%[5]s
			cache {
				%[6]s
			}
			jwt {
				secret %[7]s
				write_scope_claim write
			}
			upload {
				max_size 1MiB
			}
		}
	}
	r2gate {
		%[5]s
		cache {
			%[6]s
		}
	}
}
`, nd.admin, strings.Join(urls, " "), nd.port, purgeSecret, bucketLines(env.s3.Endpoint), cacheLines, jwtSecret)
		nd.start(t)
	}
	return nodes
}

// start runs the node's Caddy (again, after stop: same ports, same disk).
func (n *peerNode) start(t *testing.T) {
	t.Helper()
	n.p = startCaddy(t, n.config, n.base, n.home)
	t.Cleanup(n.p.kill)
}

// cacheStatus GETs key from the node and returns its body and whether the
// answer was a cache hit.
func (n *peerNode) cacheStatus(t *testing.T, key string) (string, bool) {
	t.Helper()
	resp, err := http.Get(n.base + "/" + key)
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", key, resp.StatusCode, err)
	}
	return string(body), strings.Contains(resp.Header.Get("Cache-Status"), "; hit")
}

// awaitHit GETs key until the node answers from its cache.
func (n *peerNode) awaitHit(t *testing.T, key string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, hit := n.cacheStatus(t, key); hit {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became a hit on %s", key, n.base)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitMiss GETs key until the node does not answer from its cache, and
// returns how long that took and the body it then served.
func (n *peerNode) awaitMiss(t *testing.T, key string, within time.Duration) (time.Duration, string) {
	t.Helper()
	start := time.Now()
	for {
		body, hit := n.cacheStatus(t, key)
		if !hit {
			return time.Since(start), body
		}
		if time.Since(start) > within {
			t.Fatalf("%s is still a hit on %s after %v", key, n.base, within)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// post sends body to url with the bearer secret and returns the status.
func postPurge(t *testing.T, url, secret, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestPeerFanoutPurgeReachesEveryNodeOnce: three nodes cache an object; a
// purge through node 1's admin API makes nodes 2 and 3 refetch within a
// second (measured), each node applies it once (node 1 lists itself and
// ignores its own copy), nobody forwards it again, and a forwarded purge
// with a wrong secret is refused and purges nothing. An R2 event at node
// 2's webhook reaches nodes 1 and 3 the same way.
func TestPeerFanoutPurgeReachesEveryNodeOnce(t *testing.T) {
	key := uniqueKey(t, "fanout.txt")
	putObject(t, env.s3, key, []byte("version 1"), "")
	nodes := startPeerFleet(t, 3, false)
	for _, n := range nodes {
		n.awaitHit(t, key)
	}

	// A wrong secret: 401, nothing purged.
	forged := `{"forwarded":true,"id":"` + strings.Repeat("ee", 16) + `","purges":[{"keys":["` + key + `"]}]}`
	if got := postPurge(t, nodes[1].purgeURL(), "not-the-secret", forged); got != http.StatusUnauthorized {
		t.Errorf("a forwarded purge with a wrong secret got %d, want 401", got)
	}
	if got := postPurge(t, nodes[1].purgeURL(), "", forged); got != http.StatusUnauthorized {
		t.Errorf("a forwarded purge without a secret got %d, want 401", got)
	}
	if _, hit := nodes[1].cacheStatus(t, key); !hit {
		t.Fatal("a refused forwarded purge purged node 2")
	}

	putObject(t, env.s3, key, []byte("version 2"), "")
	if got := postPurge(t, "http://"+nodes[0].admin+"/r2gate/purge", "", `{"keys":["`+key+`"]}`); got != http.StatusOK {
		t.Fatalf("admin purge on node 1: %d", got)
	}
	sent := time.Now()
	for i, n := range nodes[1:] {
		took, body := n.awaitMiss(t, key, time.Second)
		if body != "version 2" {
			t.Errorf("node %d refetched %q, want version 2", i+2, body)
		}
		t.Logf("node %d: purge on node 1 seen as a miss %v after its admin answer (%v polling)",
			i+2, time.Since(sent).Round(100*time.Microsecond), took.Round(100*time.Microsecond))
		if since := time.Since(sent); since > time.Second {
			t.Errorf("node %d refetched %v after the purge, want under 1s", i+2, since)
		}
	}

	awaitMetric(t, nodes[0].admin, `r2gate_purge_peer_sent_total`, 3) // nodes 2, 3 and itself
	awaitMetric(t, nodes[0].admin, `r2gate_purge_peer_duplicates_total`, 1)
	time.Sleep(200 * time.Millisecond) // anything forwarded again would land now
	want := []struct {
		node           int
		admin, peer    float64
		sent, received float64
	}{{0, 1, 0, 3, 0}, {1, 0, 1, 0, 1}, {2, 0, 1, 0, 1}}
	for _, w := range want {
		a := nodes[w.node].admin
		if got := metricValue(t, a, `r2gate_purges_total{source="admin"}`); got != w.admin {
			t.Errorf("node %d: admin purges %v, want %v", w.node+1, got, w.admin)
		}
		if got := metricValue(t, a, `r2gate_purges_total{source="peer"}`); got != w.peer {
			t.Errorf("node %d: purges applied from peers %v, want %v", w.node+1, got, w.peer)
		}
		if got := metricValue(t, a, `r2gate_purge_peer_sent_total`); got != w.sent {
			t.Errorf("node %d: forwarded %v purges, want %v (a forwarded purge is never forwarded again)", w.node+1, got, w.sent)
		}
		if got := metricValue(t, a, `r2gate_purge_peer_errors_total`); got != 0 {
			t.Errorf("node %d: %v peer errors", w.node+1, got)
		}
	}

	// An R2 event notification at node 2 reaches nodes 1 and 3.
	for _, n := range nodes {
		n.awaitHit(t, key)
	}
	event := `{"account":"0a1b","action":"PutObject","bucket":"` + testBucket + `","object":{"key":"` + key + `"}}`
	if got := postPurge(t, nodes[1].purgeURL(), purgeSecret, event); got != http.StatusOK {
		t.Fatalf("R2 event at node 2: %d", got)
	}
	sent = time.Now()
	for _, i := range []int{0, 2} {
		nodes[i].awaitMiss(t, key, time.Second)
		t.Logf("node %d: R2 event at node 2 seen as a miss %v later", i+1, time.Since(sent).Round(100*time.Microsecond))
	}
	if got := metricValue(t, nodes[1].admin, `r2gate_purges_total{source="webhook"}`); got != 1 {
		t.Errorf("node 2: webhook purges %v, want 1", got)
	}

	// An upload through node 3 reaches nodes 1 and 2: they serve the new
	// version at once.
	for _, n := range nodes {
		n.awaitHit(t, key)
	}
	status, _, _ := send(t, http.MethodPut, nodes[2].base+"/"+key, []byte("version 3"),
		"Authorization", "Bearer "+writer(t, "cache-tests/"))
	if status != http.StatusOK && status != http.StatusCreated {
		t.Fatalf("PUT through node 3: %d", status)
	}
	sent = time.Now()
	for _, i := range []int{0, 1} {
		_, body := nodes[i].awaitMiss(t, key, time.Second)
		if body != "version 3" {
			t.Errorf("node %d served %q after the upload, want version 3", i+1, body)
		}
		t.Logf("node %d: upload through node 3 seen %v later", i+1, time.Since(sent).Round(100*time.Microsecond))
	}
	if got := metricValue(t, nodes[2].admin, `r2gate_purges_total{source="upload"}`); got != 1 {
		t.Errorf("node 3: upload purges %v, want 1", got)
	}
}

// TestPeerFanoutMissedPurgeReachesANodeThatReturns: node 3 (with a disk
// tier that survives its restart) is down during a purge, for 6 s (not
// with -short); node 1 keeps the purge and delivers it once node 3
// listens again, so node 3 serves its stale copy for at most the retry
// cap after its return (measured), and its other entries stay warm.
func TestPeerFanoutMissedPurgeReachesANodeThatReturns(t *testing.T) {
	key := uniqueKey(t, "missed.txt")
	putObject(t, env.s3, key, []byte("before"), "")
	control := uniqueKey(t, "kept.txt") // cached, never purged
	putObject(t, env.s3, control, []byte("kept"), "")
	nodes := startPeerFleet(t, 3, true)
	for _, n := range nodes {
		n.awaitHit(t, key)
	}
	down := nodes[2]
	down.awaitHit(t, control)
	down.p.kill()

	putObject(t, env.s3, key, []byte("after"), "")
	if got := postPurge(t, "http://"+nodes[0].admin+"/r2gate/purge", "", `{"keys":["`+key+`"]}`); got != http.StatusOK {
		t.Fatalf("admin purge on node 1: %d", got)
	}
	purged := time.Now()
	nodes[1].awaitMiss(t, key, time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(t, nodes[0].admin, `r2gate_purge_peer_errors_total`) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("node 1 never failed to reach node 3, which is down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Nodes 2 and 1 itself take theirs at once; node 3's waits.
	for got := metricValue(t, nodes[0].admin, `r2gate_purge_peer_backlog`); got != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("node 1 keeps %v items for its peers, want 1 (for node 3)", got)
		}
		time.Sleep(10 * time.Millisecond)
		got = metricValue(t, nodes[0].admin, `r2gate_purge_peer_backlog`)
	}

	if !testing.Short() {
		// Stay down long enough for node 1's retries to reach their 5s
		// cap, the worst case of the bound.
		time.Sleep(6 * time.Second)
	}
	down.start(t)
	back := time.Now()
	if _, hit := down.cacheStatus(t, control); !hit {
		t.Fatal("node 3 lost its disk tier in the restart: the test cannot tell a purge from a cold cache")
	}
	// The missed purge arrives at node 1's next retry.
	for metricValue(t, down.admin, `r2gate_purges_total{source="peer"}`) < 1 {
		if time.Since(back) > 7*time.Second {
			t.Fatal("node 3 never got the purge it missed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stale := time.Since(back)
	if body, hit := down.cacheStatus(t, key); hit || body != "after" {
		t.Errorf("after the missed purge arrived node 3 served %q (hit %v), want a miss with the new version", body, hit)
	}
	if _, hit := down.cacheStatus(t, control); !hit {
		t.Error("the missed purge took more than its key: the control key is gone")
	}
	t.Logf("node 3 got the purge it missed %v after it answered again (bound: 5s retry cap + one timeout); "+
		"node 1 had retried for %v", stale.Round(time.Millisecond), time.Since(purged).Round(time.Millisecond))
	if stale > 6*time.Second {
		t.Errorf("node 3 could serve a purged object for %v after its return, over the 6s bound", stale)
	}
	for metricValue(t, nodes[0].admin, `r2gate_purge_peer_backlog`) != 0 {
		if time.Since(back) > 7*time.Second {
			t.Fatal("node 1 still keeps purges for node 3")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := metricValue(t, down.admin, `r2gate_purges_total{source="peer"}`); got != 1 {
		t.Errorf("node 3 applied %v forwarded purges, want 1", got)
	}
}
