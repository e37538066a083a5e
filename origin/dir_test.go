package origin_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/r2gate/r2gate/origin"
)

func TestDirInvalidKeys(t *testing.T) {
	keys := []struct{ name, key string }{
		{"parent segment", "../x"},
		{"parent segment after a folder", "a/../../x"},
		{"bare parent", ".."},
		{"absolute path", "/etc/passwd"},
		{"dot segment", "a/./b"},
		{"bare dot", "."},
		{"empty key", ""},
		{"NUL byte", "a\x00b"},
		{"invalid UTF-8", "a\xff\xfeb"},
		{"metadata folder", ".r2gate-meta/x.json"},
		{"metadata folder further down", "a/.r2gate-meta/x"},
		{"temporary file", ".r2gate-tmp-0123456789abcdef"},
		{"trailing slash", "x/"},
	}
	d, dir := newDir(t)
	// The metadata folder exists, so refusing its keys is not luck.
	if _, err := d.Put(t.Context(), "x", strings.NewReader("x"), 1, origin.PutOptions{CacheControl: "no-cache"}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	ops := []struct {
		name string
		call func(key string) error
	}{
		{"Get", func(key string) error {
			obj, err := d.Get(t.Context(), key, origin.GetOptions{})
			if err == nil {
				obj.Body.Close()
			}
			return err
		}},
		{"Head", func(key string) error { _, err := d.Head(t.Context(), key); return err }},
		{"Put", func(key string) error {
			_, err := d.Put(t.Context(), key, strings.NewReader("pwned"), 5, origin.PutOptions{})
			return err
		}},
		{"Delete", func(key string) error { return d.Delete(t.Context(), key) }},
	}
	for _, k := range keys {
		t.Run(k.name, func(t *testing.T) {
			for _, op := range ops {
				err := op.call(k.key)
				if !errors.Is(err, origin.ErrInvalidKey) || origin.Status(err) != http.StatusBadRequest {
					t.Errorf("%s(%q) = %v, want ErrInvalidKey (400)", op.name, k.key, err)
				}
			}
		})
	}
	for _, p := range []string{filepath.Join(filepath.Dir(dir), "x"), "/etc/passwd-pwned"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists: a refused Put wrote outside the folder", p)
		}
	}
	if info, err := d.Head(t.Context(), "x"); err != nil || info.CacheControl != "no-cache" {
		t.Errorf("Head(x) = %+v, %v; a refused Put or Delete touched its metadata", info, err)
	}
}

func TestDirSymlinks(t *testing.T) {
	secret := []byte("TOP SECRET: the outside world")
	outside := t.TempDir()
	secretPath := filepath.Join(outside, "secret")
	if err := os.WriteFile(secretPath, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	d, dir := newDir(t)
	rel, err := filepath.Rel(dir, secretPath)
	if err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, secretPath, filepath.Join(dir, "absolute-out"))
	mustSymlink(t, rel, filepath.Join(dir, "relative-out"))
	mustSymlink(t, outside, filepath.Join(dir, "folder-out"))
	mustWrite(t, filepath.Join(dir, "real.txt"), []byte("inside"))
	mustWrite(t, filepath.Join(dir, "sub", "deep.txt"), []byte("deep inside"))
	mustSymlink(t, "real.txt", filepath.Join(dir, "alias.txt"))
	mustSymlink(t, "sub", filepath.Join(dir, "sub-alias"))
	mustSymlink(t, "../real.txt", filepath.Join(dir, "sub", "up.txt"))

	for _, key := range []string{"absolute-out", "relative-out", "folder-out/secret"} {
		t.Run("link out of the folder is not found: "+key, func(t *testing.T) {
			for _, opts := range []origin.GetOptions{{}, {Range: &origin.Range{Offset: 0, Length: -1}}} {
				obj, err := d.Get(t.Context(), key, opts)
				if err == nil {
					body, _ := io.ReadAll(obj.Body)
					obj.Body.Close()
					if bytes.Contains(body, secret[:10]) {
						t.Fatalf("Get(%q) returned the secret", key)
					}
				}
				if !errors.Is(err, origin.ErrNotFound) {
					t.Errorf("Get(%q) = %v, want ErrNotFound", key, err)
				}
			}
			if _, err := d.Head(t.Context(), key); !errors.Is(err, origin.ErrNotFound) {
				t.Errorf("Head(%q) = %v, want ErrNotFound", key, err)
			}
		})
	}

	t.Run("put and delete through a link out leave the target alone", func(t *testing.T) {
		_, _ = d.Put(t.Context(), "absolute-out", strings.NewReader("overwritten"), 11, origin.PutOptions{})
		_, _ = d.Put(t.Context(), "folder-out/planted", strings.NewReader("planted"), 7, origin.PutOptions{})
		_, _ = d.Put(t.Context(), "folder-out/secret", strings.NewReader("overwritten"), 11, origin.PutOptions{})
		_ = d.Delete(t.Context(), "relative-out")
		_ = d.Delete(t.Context(), "folder-out/secret")
		if got, err := os.ReadFile(secretPath); err != nil || !bytes.Equal(got, secret) {
			t.Errorf("secret is now %q, %v", got, err)
		}
		entries, _ := os.ReadDir(outside)
		if len(entries) != 1 {
			t.Errorf("outside folder holds %d entries, want only the secret", len(entries))
		}
	})

	tests := []struct{ name, key, want string }{
		{"link to a file inside works", "alias.txt", "inside"},
		{"link to a folder inside works", "sub-alias/deep.txt", "deep inside"},
		{"link up to a file inside works", "sub/up.txt", "inside"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj, err := d.Get(t.Context(), tc.key, origin.GetOptions{})
			if err != nil {
				t.Fatalf("Get(%q): %v", tc.key, err)
			}
			defer obj.Body.Close()
			body, err := io.ReadAll(obj.Body)
			if err != nil || string(body) != tc.want || obj.Size != int64(len(tc.want)) {
				t.Errorf("Get(%q) = %q (Size %d), %v; want %q", tc.key, body, obj.Size, err, tc.want)
			}
		})
	}
}

func TestDirContentType(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00")
	tests := []struct {
		name, key string
		body      []byte
		put       bool   // stored with Put, else written by hand
		putType   string // the Content-Type given to Put
		want      string
	}{
		{"css by extension", "site/style.css", []byte("body{}"), false, "", "text/css; charset=utf-8"},
		{"html by extension", "index.html", []byte("<p>hi"), false, "", "text/html; charset=utf-8"},
		{"png by extension despite the bytes", "logo.png", []byte("not really a png"), false, "", "image/png"},
		{"png by sniffing without extension", "logo", png, false, "", "image/png"},
		{"text by sniffing without extension", "README", []byte("plain words\n"), false, "", "text/plain; charset=utf-8"},
		{"binary by sniffing without extension", "blob", []byte{0, 1, 2, 3, 0xfe}, false, "", "application/octet-stream"},
		{"stored type wins over extension", "data.css", []byte("{}"), true, "application/vnd.custom+json", "application/vnd.custom+json"},
		{"put without type falls back to extension", "put.css", []byte("a{}"), true, "", "text/css; charset=utf-8"},
		{"put without type falls back to sniffing", "upload", png, true, "", "image/png"},
	}
	d, dir := newDir(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.put {
				if _, err := d.Put(t.Context(), tc.key, bytes.NewReader(tc.body), int64(len(tc.body)),
					origin.PutOptions{ContentType: tc.putType}); err != nil {
					t.Fatalf("Put: %v", err)
				}
			} else {
				mustWrite(t, filepath.Join(dir, filepath.FromSlash(tc.key)), tc.body)
			}
			info, err := d.Head(t.Context(), tc.key)
			if err != nil || info.ContentType != tc.want {
				t.Errorf("Head(%q) Content-Type = %q, %v; want %q", tc.key, info.ContentType, err, tc.want)
			}
			// Sniffing must not eat the start of the body.
			obj, err := d.Get(t.Context(), tc.key, origin.GetOptions{})
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			defer obj.Body.Close()
			body, err := io.ReadAll(obj.Body)
			if err != nil || !bytes.Equal(body, tc.body) || obj.ContentType != tc.want {
				t.Errorf("Get(%q) = %q, Content-Type %q, %v; want the file and %q", tc.key, body, obj.ContentType, err, tc.want)
			}
		})
	}
}

func TestDirETag(t *testing.T) {
	content := []byte("same bytes everywhere")
	headETag := func(t *testing.T, dir, key string) string {
		t.Helper()
		d, err := origin.OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		info, err := d.Head(t.Context(), key)
		if err != nil {
			t.Fatalf("Head(%q): %v", key, err)
		}
		return info.ETag
	}

	t.Run("stable across a new OpenDir and across copies", func(t *testing.T) {
		a, b := t.TempDir(), t.TempDir()
		mustWrite(t, filepath.Join(a, "f.txt"), content)
		mustWrite(t, filepath.Join(b, "copy", "g.bin"), content)
		first := headETag(t, a, "f.txt")
		if again := headETag(t, a, "f.txt"); again != first {
			t.Errorf("ETag after reopening = %s, want %s", again, first)
		}
		if other := headETag(t, b, "copy/g.bin"); other != first {
			t.Errorf("ETag of a copy = %s, want %s", other, first)
		}
	})

	t.Run("changes when a file is rewritten at once with the same size", func(t *testing.T) {
		d, dir := newDir(t)
		p := filepath.Join(dir, "f.txt")
		mustWrite(t, p, content)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		before, err := d.Head(t.Context(), "f.txt")
		if err != nil {
			t.Fatal(err)
		}
		// File system clocks are coarse: a rewrite within the same tick
		// keeps the modification time. Make that happen every time.
		mustWrite(t, p, bytes.ToUpper(content))
		if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
		after, err := d.Head(t.Context(), "f.txt")
		if err != nil {
			t.Fatal(err)
		}
		if after.ETag == before.ETag {
			t.Errorf("ETag unchanged after rewriting the file: %s", after.ETag)
		}
	})

	t.Run("changes when an old file is rewritten with the same size", func(t *testing.T) {
		d, dir := newDir(t)
		p := filepath.Join(dir, "f.txt")
		mustWrite(t, p, content)
		old := time.Now().Add(-time.Hour)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		var tags []string
		for range 2 { // the second Head may come from the memo
			info, err := d.Head(t.Context(), "f.txt")
			if err != nil {
				t.Fatal(err)
			}
			tags = append(tags, info.ETag)
		}
		mustWrite(t, p, bytes.ToUpper(content))
		info, err := d.Head(t.Context(), "f.txt")
		if err != nil {
			t.Fatal(err)
		}
		if tags[0] != tags[1] || info.ETag == tags[0] {
			t.Errorf("ETags = %s, %s, then %s after rewriting; want two equal, then a new one", tags[0], tags[1], info.ETag)
		}
	})
}

func TestDirNotAFile(t *testing.T) {
	d, dir := newDir(t)
	mustWrite(t, filepath.Join(dir, "folder", "file.txt"), []byte("x"))
	for _, key := range []string{"folder", "folder/file.txt/below"} {
		if _, err := d.Head(t.Context(), key); !errors.Is(err, origin.ErrNotFound) {
			t.Errorf("Head(%q) = %v, want ErrNotFound", key, err)
		}
		if _, err := d.Get(t.Context(), key, origin.GetOptions{}); !errors.Is(err, origin.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", key, err)
		}
	}
}

func TestDirPut(t *testing.T) {
	t.Run("creates folders and leaves no temporary files", func(t *testing.T) {
		d, dir := newDir(t)
		if _, err := d.Put(t.Context(), "a/b/c.txt", strings.NewReader("nested"), 6, origin.PutOptions{}); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if got, err := os.ReadFile(filepath.Join(dir, "a", "b", "c.txt")); err != nil || string(got) != "nested" {
			t.Errorf("file = %q, %v; want %q", got, err, "nested")
		}
		checkNoTemporaryFiles(t, dir)
	})

	t.Run("short body fails and keeps the old object", func(t *testing.T) {
		d, dir := newDir(t)
		if _, err := d.Put(t.Context(), "f", strings.NewReader("old"), 3, origin.PutOptions{}); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if _, err := d.Put(t.Context(), "f", strings.NewReader("new"), 10, origin.PutOptions{}); err == nil {
			t.Fatal("Put of 3 bytes announced as 10 succeeded")
		}
		if got, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(got) != "old" {
			t.Errorf("file = %q, %v; want the old object", got, err)
		}
		checkNoTemporaryFiles(t, dir)
	})

	t.Run("a body longer than size fails and writes nothing", func(t *testing.T) {
		d, dir := newDir(t)
		_, err := d.Put(t.Context(), "f", strings.NewReader("0123456789"), 4, origin.PutOptions{})
		if !errors.Is(err, origin.ErrBodySize) {
			t.Fatalf("Put of 10 bytes announced as 4 = %v, want ErrBodySize", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "f")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the object was written: %v", err)
		}
		checkNoTemporaryFiles(t, dir)
	})
}

func checkNoTemporaryFiles(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(e.Name(), ".r2gate-tmp") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}

func mustWrite(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
