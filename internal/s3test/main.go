package s3test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

// Main is a test package's TestMain body for tests that share one
// versitygw: it starts the server in a temporary folder, runs ready (to
// keep the server and make buckets; a non-nil error fails the run), then
// the tests, and stops and removes everything. A server that cannot be
// started fails the run with the install hint: S3 tests never skip. pkg
// names the package in that message.
//
// A process that only fuzzes (FuzzingOnly) runs no test that needs the
// server, so none is started.
func Main(m *testing.M, pkg string, ready func(*Server) error) int {
	if FuzzingOnly() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "r2gate-"+pkg+"-s3-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: making the versitygw folder:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	srv, err := Start(dir)
	if err != nil {
		msg := err.Error()
		if !strings.Contains(msg, InstallHint) {
			msg += "; " + InstallHint
		}
		fmt.Fprintf(os.Stderr, "FAIL: the %s tests need versitygw: %s\n", pkg, msg)
		return 1
	}
	defer srv.Stop()
	if err := ready(srv); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	return m.Run()
}

// FuzzingOnly reports whether this test process runs fuzz inputs and no
// test: a fuzz worker (-test.fuzzworker), or the coordinator of
// go test -run '^$' -fuzz X. Such a process needs no S3 server, and
// starting one in each worker made fuzzing the packages that share one
// about 20 times slower. Call it from TestMain.
func FuzzingOnly() bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	value := func(name string) string {
		if f := flag.Lookup(name); f != nil {
			return f.Value.String()
		}
		return ""
	}
	return value("test.fuzzworker") == "true" || (value("test.fuzz") != "" && value("test.run") == "^$")
}
