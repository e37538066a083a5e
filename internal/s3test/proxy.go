package s3test

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Request is what a Proxy saw of one request to the bucket.
type Request struct {
	Method      string
	Path        string
	Range       string
	IfMatch     string
	IfNoneMatch string
	// Status is what the bucket answered (0 if the proxy failed the request).
	Status int
}

// Proxy is a recording reverse proxy in front of a bucket server. It keeps
// the Host header, so SigV4 signatures made for the proxy's address verify
// at the server behind it.
type Proxy struct {
	// Endpoint is the proxy's base URL.
	Endpoint string

	srv      *http.Server
	mu       sync.Mutex
	log      []Request
	inFlight int
}

// NewProxy starts a recording proxy to target on a free loopback port.
func NewProxy(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Endpoint: "http://" + l.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		i := len(p.log)
		p.log = append(p.log, Request{
			Method: r.Method, Path: r.URL.Path, Range: r.Header.Get("Range"),
			IfMatch: r.Header.Get("If-Match"), IfNoneMatch: r.Header.Get("If-None-Match"),
		})
		p.inFlight++
		p.mu.Unlock()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			p.mu.Lock()
			p.inFlight--
			if i < len(p.log) {
				p.log[i].Status = sw.status
			}
			p.mu.Unlock()
		}()
		rp.ServeHTTP(sw, r)
	})}
	go func() { _ = p.srv.Serve(l) }()
	return p, nil
}

// Requests returns what the proxy saw since the last Reset.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.log)
}

// InFlight returns how many requests the proxy is still answering; a
// request ends when the bucket's answer is complete or the client (r2gate)
// has dropped it.
func (p *Proxy) InFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inFlight
}

// Reset forgets the recorded requests.
func (p *Proxy) Reset() {
	p.mu.Lock()
	p.log = nil
	p.mu.Unlock()
}

// Close stops the proxy.
func (p *Proxy) Close() error { return p.srv.Close() }

// statusWriter records the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets streamed bodies through as they come.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Matching returns the recorded requests whose path ends with suffix.
func (p *Proxy) Matching(suffix string) []Request {
	var out []Request
	for _, r := range p.Requests() {
		if strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}
