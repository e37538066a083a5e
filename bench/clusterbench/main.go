// Command clusterbench is bench/cluster.sh's helper: it fills a bucket with
// objects of random sizes and replays a Zipf-distributed key stream against
// a Caddy site, the same stream for every configuration compared.
//
//	clusterbench upload -endpoint URL -bucket NAME -prefix P -n 2000 -min 10240 -max 512000
//	clusterbench load   -base URL -prefix P -n 2000 -requests 20000 -s 1.1 -seed 1 -c 8
//	clusterbench purge  -admin HOST:PORT -key K -rounds 5 NODE_URL...
//
// upload writes keys P/o00000.bin .. with sizes drawn uniformly from
// [min, max] bytes (seeded, so every run makes the same objects), with the
// credentials of R2_ACCESS_KEY_ID / R2_SECRET_ACCESS_KEY.
//
// load draws -requests key indexes from a Zipf distribution (exponent -s,
// rank 0 the most requested; index i is the key of rank i) with -seed, and
// GETs them from -base with -c workers taking the next request of the one
// stream in turn. It prints one line:
//
//	requests=20000 errors=0 seconds=12.34 rps=1620.7 mib=4821.3 new_keys=170 ideal_hit=0.9915
//
// new_keys are the keys of the stream that neither an earlier request of
// it nor the stream of seed -after (a warm-up of as many requests) asked
// for; ideal_hit (1 - new_keys/requests) is the hit ratio of a cache that
// holds every object: the ceiling of any configuration.
//
// purge measures the fan-out: each round it GETs key from every node until
// every node answers it from its cache, purges it at the admin API -admin
// (one of the nodes), and polls every node (every 2 ms) until it answers
// with a refetch. It prints one line, over all rounds:
//
//	nodes=10 rounds=5 answer_ms=1.9 p50_ms=6.1 max_ms=14.2
//
// answer_ms is the median time the admin API took to answer; p50_ms and
// max_ms are the median and the largest time from the purge request to a
// node's first refetch, over every node but the one purged at and every
// round.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/r2gate/r2gate/origin"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: clusterbench upload|load|purge [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "upload":
		err = upload(os.Args[2:])
	case "load":
		err = load(os.Args[2:])
	case "purge":
		err = purge(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want upload, load or purge)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "clusterbench:", err)
		os.Exit(1)
	}
}

// objectKey is the key of object i under prefix.
func objectKey(prefix string, i int) string { return fmt.Sprintf("%s/o%05d.bin", prefix, i) }

func upload(args []string) error {
	fs := flag.NewFlagSet("upload", flag.ExitOnError)
	endpoint := fs.String("endpoint", "", "S3 endpoint URL")
	bucket := fs.String("bucket", "", "bucket name")
	prefix := fs.String("prefix", "zipf", "key prefix")
	n := fs.Int("n", 2000, "number of objects")
	minSize := fs.Int("min", 10<<10, "smallest object, bytes")
	maxSize := fs.Int("max", 500<<10, "largest object, bytes")
	workers := fs.Int("c", 8, "uploads at once")
	seed := fs.Uint64("seed", 1, "seed of the sizes")
	_ = fs.Parse(args)
	ctx := context.Background()
	b, err := origin.NewS3(ctx, origin.S3Config{
		Bucket: *bucket, Endpoint: *endpoint,
		AccessKey: os.Getenv("R2_ACCESS_KEY_ID"), SecretKey: os.Getenv("R2_SECRET_ACCESS_KEY"),
	})
	if err != nil {
		return fmt.Errorf("bucket client: %w", err)
	}
	rnd := rand.New(rand.NewPCG(*seed, 7))
	sizes := make([]int, *n)
	var total int64
	for i := range sizes {
		sizes[i] = *minSize + rnd.IntN(*maxSize-*minSize+1)
		total += int64(sizes[i])
	}
	fill := make([]byte, *maxSize)
	for i := range fill {
		fill[i] = byte(rnd.UintN(256))
	}
	work := make(chan int)
	var failed atomic.Value
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				key := objectKey(*prefix, i)
				body := append([]byte(key+"\n"), fill[:sizes[i]-len(key)-1]...)
				if _, err := b.Put(ctx, key, bytes.NewReader(body), int64(len(body)), origin.PutOptions{ContentType: "application/octet-stream"}); err != nil {
					failed.Store(fmt.Errorf("uploading %s: %w", key, err))
				}
			}
		}()
	}
	start := time.Now()
	for i := range sizes {
		work <- i
	}
	close(work)
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return err
	}
	fmt.Printf("objects=%d mib=%.1f seconds=%.2f\n", *n, float64(total)/(1<<20), time.Since(start).Seconds())
	return nil
}

// zipfStream returns requests key indexes of the Zipf distribution with
// exponent s over n keys, drawn with seed.
func zipfStream(seed uint64, s float64, n, requests int) []int {
	z := rand.NewZipf(rand.New(rand.NewPCG(seed, 11)), s, 1, uint64(n-1))
	out := make([]int, requests)
	for i := range out {
		out[i] = int(z.Uint64())
	}
	return out
}

func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	base := fs.String("base", "", "site base URL")
	prefix := fs.String("prefix", "zipf", "key prefix")
	n := fs.Int("n", 2000, "number of objects")
	requests := fs.Int("requests", 20000, "requests to make")
	s := fs.Float64("s", 1.1, "Zipf exponent (> 1)")
	seed := fs.Uint64("seed", 1, "seed of the key stream")
	workers := fs.Int("c", 8, "requests at once")
	after := fs.Uint64("after", 0, "seed of a stream (of as many requests) replayed before this one, for ideal_hit; 0: none")
	_ = fs.Parse(args)
	seen := make(map[int]bool)
	if *after != 0 {
		for _, k := range zipfStream(*after, *s, *n, *requests) {
			seen[k] = true
		}
	}
	stream := zipfStream(*seed, *s, *n, *requests)
	compulsory := 0
	for _, k := range stream {
		if !seen[k] {
			compulsory++
			seen[k] = true
		}
	}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *workers}}
	var next, errs, bytesRead atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(stream)) {
					return
				}
				resp, err := client.Get(*base + "/" + objectKey(*prefix, stream[i]))
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				nr, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				bytesRead.Add(nr)
				if err != nil || resp.StatusCode != http.StatusOK {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d, %v", resp.StatusCode, err))
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	fmt.Printf("requests=%d errors=%d seconds=%.2f rps=%.1f mib=%.1f new_keys=%d ideal_hit=%.4f\n",
		len(stream), errs.Load(), secs, float64(len(stream))/secs, float64(bytesRead.Load())/(1<<20),
		compulsory, 1-float64(compulsory)/float64(len(stream)))
	if e, ok := firstErr.Load().(string); ok {
		fmt.Fprintln(os.Stderr, "first error:", e)
	}
	return nil
}

func purge(args []string) error {
	fs := flag.NewFlagSet("purge", flag.ExitOnError)
	admin := fs.String("admin", "", "admin API (host:port) of the node that receives the purges")
	self := fs.String("self", "", "base URL of that node (not timed)")
	key := fs.String("key", "", "the object's key")
	rounds := fs.Int("rounds", 5, "purges to time")
	_ = fs.Parse(args)
	nodes := fs.Args()
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(base string) (hit bool, err error) {
		resp, err := client.Get(base + "/" + *key)
		if err != nil {
			return false, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: status %d", base, resp.StatusCode)
		}
		return strings.Contains(resp.Header.Get("Cache-Status"), "; hit"), err
	}
	var answers, latencies []time.Duration
	for range *rounds {
		for _, n := range nodes {
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				hit, err := get(n)
				if err != nil {
					return err
				}
				if hit {
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("%s never answered %s from its cache", n, *key)
				}
			}
		}
		body := fmt.Sprintf(`{"keys": [%q]}`, *key)
		var mu sync.Mutex
		var wg sync.WaitGroup
		var failed atomic.Value
		start := make(chan struct{})
		t0 := time.Now()
		for _, n := range nodes {
			if n == *self {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for {
					hit, err := get(n)
					if err != nil {
						failed.Store(err)
						return
					}
					if !hit {
						mu.Lock()
						latencies = append(latencies, time.Since(t0))
						mu.Unlock()
						return
					}
					if time.Since(t0) > 10*time.Second {
						failed.Store(fmt.Errorf("%s still a hit 10s after the purge", n))
						return
					}
					time.Sleep(2 * time.Millisecond)
				}
			}()
		}
		t0 = time.Now()
		close(start)
		resp, err := client.Post("http://"+*admin+"/r2gate/purge", "application/json", strings.NewReader(body))
		if err != nil {
			return fmt.Errorf("purge: %w", err)
		}
		resp.Body.Close()
		answers = append(answers, time.Since(t0))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("purge: status %d", resp.StatusCode)
		}
		wg.Wait()
		if err, ok := failed.Load().(error); ok {
			return err
		}
	}
	slices.Sort(answers)
	slices.Sort(latencies)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fmt.Printf("nodes=%d rounds=%d answer_ms=%.1f p50_ms=%.1f max_ms=%.1f\n", len(nodes), *rounds,
		ms(answers[len(answers)/2]), ms(latencies[len(latencies)/2]), ms(latencies[len(latencies)-1]))
	return nil
}
