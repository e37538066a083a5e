package publish

import (
	"fmt"
	"io/fs"
	"mime"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/r2gate/r2gate/origin"
)

// ContentType is the Content-Type stored for a file: from its extension
// with Go's mime table (which reads the system's mime.types too), else
// application/octet-stream. It is the gateway's fallback for objects
// stored without a type, so a synced object is served with the type the
// gateway would give it anyway.
func ContentType(name string) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// NormalizePrefix returns prefix as a key prefix: empty, or ending in
// '/', as the handler's prefix. A leading '/' is dropped (keys have
// none).
func NormalizePrefix(prefix string) string {
	prefix = strings.TrimLeft(prefix, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return prefix
}

// File is a file of the folder to sync.
type File struct {
	// Rel is its slash-separated path relative to the folder, which the
	// --exclude and rule globs match.
	Rel string
	// Key is its object key: the prefix and Rel.
	Key string
	// Path is where it is on disk.
	Path string
	// Size is its length in bytes when the folder was walked.
	Size int64
}

// walk lists the regular files under dir (symbolic links to files are
// followed, to folders are not), sorted by key, leaving out those an
// exclude pattern matches; it returns how many it left out. Any error
// (an unreadable folder, a name that cannot be a key) ends the walk:
// with part of the folder unseen, --delete would remove what is still
// there.
func walk(dir, prefix string, exclude []string) ([]File, int, error) {
	var files []File
	excluded := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			if !d.IsDir() {
				return fmt.Errorf("%s is not a folder", dir)
			}
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			if info, err = os.Stat(p); err != nil {
				return fmt.Errorf("following the link %s: %w", p, err)
			}
			if info.IsDir() {
				return nil // not followed: a link back up would loop
			}
		}
		if d.IsDir() || !info.Mode().IsRegular() {
			return nil
		}
		if matchAny(exclude, rel) {
			excluded++
			return nil
		}
		key := prefix + rel
		switch {
		case !utf8.ValidString(rel):
			return fmt.Errorf("%s: the name is not valid UTF-8, so it cannot be an object key (rename it or --exclude it)", p)
		case len(key) > origin.MaxKeyLen:
			return fmt.Errorf("%s: the key would be %d bytes, over the bucket's limit of %d", p, len(key), origin.MaxKeyLen)
		}
		files = append(files, File{Rel: rel, Key: key, Path: p, Size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s: %w", dir, err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Key < files[j].Key })
	return files, excluded, nil
}
