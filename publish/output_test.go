package publish

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/r2gate/r2gate/origin"
)

func TestProgressBarOutput(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": strings.Repeat("a", 3000), "b.txt": "b", "c.txt": "c"})
	b := newFake()
	b.failPut["c.txt"] = true
	b.put(t, "b.txt", []byte("b"), 0, origin.PutOptions{})
	sum, out, err := runSync(t, b, Options{Dir: dir, Progress: true})
	if err == nil {
		t.Fatal("no error for the failed key")
	}
	if strings.Contains(out, "uploaded  a.txt") || strings.Contains(out, "skipped   b.txt") {
		t.Errorf("per-file lines with a progress bar:\n%s", out)
	}
	for _, want := range []string{
		"comparing 1 file with the bucket ...\n", // b.txt is read
		"2/2 files",                              // the bar's description at the end
		"100%",                                   // the bar completes
		"failed    c.txt: put c.txt: bucket refused (fake)\n", // printed above the bar
		"sync: uploaded 1 (2.9 KiB), skipped 1, deleted 0, failed 1",
		"failed keys:\n  c.txt\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%q", want, out)
		}
	}
	if sum.Bytes != 3000 {
		t.Errorf("bytes %d", sum.Bytes)
	}
}

func TestSummaryLine(t *testing.T) {
	var l lines
	var sb strings.Builder
	l.w = &sb
	l.summary(Summary{Uploaded: 2000, Skipped: 3, Bytes: 20 << 20, Elapsed: 4 * time.Second}, nil, nil)
	want := "sync: uploaded 2000 (20 MiB), skipped 3, deleted 0, failed 0 in 4s (5.0 MiB/s, 500 files/s)\n"
	if sb.String() != want {
		t.Errorf("summary %q, want %q", sb.String(), want)
	}
}

// TestOutputQuotesHostileKeys: a bucket key (or an error) with terminal
// escapes, CR/LF or invalid UTF-8 is printed quoted, so a listing cannot
// write escapes or fake lines into an operator's terminal or CI log;
// ordinary keys, UTF-8 included, are printed as they are.
func TestOutputQuotesHostileKeys(t *testing.T) {
	evil := "site/evil\x1b]0;pwned\x07\r\ndeleted   site/a.txt"
	var sb strings.Builder
	l := &lines{w: &sb}
	l.done(Step{Action: Delete, Key: evil, Size: 3, Reason: "not in the folder"}, nil)
	l.done(Step{Action: Upload, Key: evil}, errors.New("put "+evil+": refused"))
	l.held(Step{Action: Upload, Key: "bad\xffutf8"}, "an earlier failure")
	l.summary(Summary{Failed: []Failure{{Key: evil, Err: errors.New("x")}}}, nil, nil)
	l.done(Step{Action: Upload, Key: "photos/été.jpg", Size: 1, Reason: "new"}, nil)
	out := sb.String()
	for _, c := range out {
		if c < 0x20 && c != '\n' {
			t.Fatalf("control character %#x in the output:\n%q", c, out)
		}
	}
	if strings.Count(out, "\n") != 7 || strings.Contains(out, "\ndeleted   site/a.txt") {
		t.Errorf("a key made a line of its own:\n%s", out)
	}
	if !strings.Contains(out, strconv.Quote(evil)) || !strings.Contains(out, `"bad\xffutf8"`) || !strings.Contains(out, "photos/été.jpg  (") {
		t.Errorf("keys not quoted as expected:\n%s", out)
	}
}
