package publish

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/r2gate/r2gate/origin"
)

// Action is what a sync does with one key.
type Action string

// The actions of a plan.
const (
	Upload Action = "upload"
	Skip   Action = "skip"
	Delete Action = "delete"
)

// Step is one key's part of a plan.
type Step struct {
	Action Action
	Key    string
	// Size is the file's size (for Upload and Skip) or the object's (for
	// Delete).
	Size int64
	// Reason says why: new, size differs, content differs, unchanged,
	// not in the folder.
	Reason string
	// File is the local file, nil for a Delete.
	File *File
}

// plan is everything a sync will do, in key order.
type plan struct {
	steps    []Step
	failed   []Failure // files that could not be compared
	excluded int       // local files left out
	kept     int       // bucket keys under the prefix kept though not in the folder
}

// count returns how many steps have action a.
func (p *plan) count(a Action) int {
	n := 0
	for _, s := range p.steps {
		if s.Action == a {
			n++
		}
	}
	return n
}

// uploadBytes is the size of every upload.
func (p *plan) uploadBytes() int64 {
	var n int64
	for _, s := range p.steps {
		if s.Action == Upload {
			n += s.Size
		}
	}
	return n
}

// purgeKeys are the keys a run of the plan would purge.
func (p *plan) purgeKeys() []string {
	var keys []string
	for _, s := range p.steps {
		if s.Action != Skip {
			keys = append(keys, s.Key)
		}
	}
	return keys
}

// makePlan lists the bucket under the prefix and compares it with the
// folder. Files with the same size as their object are read to compare
// their content (concurrently, opts.Concurrency at once).
func makePlan(ctx context.Context, b Bucket, opts Options, rep reporter) (*plan, error) {
	files, excluded, err := walk(opts.Dir, opts.Prefix, opts.Exclude)
	if err != nil {
		return nil, err
	}
	remote := make(map[string]origin.ListEntry)
	err = b.List(ctx, opts.Prefix, func(e origin.ListEntry) error {
		remote[e.Key] = e
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the bucket under %q: %w", opts.Prefix, err)
	}
	if opts.Delete && len(files) == 0 && len(remote) > 0 {
		return nil, fmt.Errorf("refusing to --delete every key under %q: %s holds no files to sync (a failed build?)", opts.Prefix, opts.Dir)
	}
	p := &plan{excluded: excluded, steps: make([]Step, len(files))}
	local := make(map[string]bool, len(files))
	var compare []int // files to read: same size as their object
	for i := range files {
		f := &files[i]
		local[f.Key] = true
		p.steps[i] = Step{Action: Upload, Key: f.Key, Size: f.Size, File: f}
		obj, ok := remote[f.Key]
		switch {
		case !ok:
			p.steps[i].Reason = "new"
		case obj.Size != f.Size:
			p.steps[i].Reason = "size differs"
		default:
			compare = append(compare, i)
		}
	}
	rep.comparing(len(compare))
	fail := make([]error, len(files))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(opts.Concurrency, len(compare)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := ctx.Err(); err != nil {
					fail[i] = err
					continue
				}
				same, err := unchanged(ctx, b, &files[i], remote[files[i].Key], opts.PartSize)
				switch {
				case err != nil:
					fail[i] = err
				case same:
					p.steps[i].Action, p.steps[i].Reason = Skip, "unchanged"
				default:
					p.steps[i].Reason = "content differs"
				}
			}
		}()
	}
	for _, i := range compare {
		work <- i
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if slices.ContainsFunc(fail, func(err error) bool { return err != nil }) {
		kept := p.steps[:0]
		for i, st := range p.steps {
			if err := fail[i]; err != nil {
				p.failed = append(p.failed, Failure{Key: st.Key, Err: fmt.Errorf("comparing with the bucket: %w", err)})
				continue
			}
			kept = append(kept, st)
		}
		p.steps = kept
	}
	if opts.Delete {
		p.addDeletes(remote, local, opts)
	}
	sort.SliceStable(p.steps, func(i, j int) bool { return p.steps[i].Key < p.steps[j].Key })
	return p, nil
}

// addDeletes adds a Delete for every listed key the folder does not
// have, but for the keys --delete must keep (keepKey).
func (p *plan) addDeletes(remote map[string]origin.ListEntry, local map[string]bool, opts Options) {
	for key, obj := range remote {
		if local[key] {
			continue
		}
		if keepKey(key, local, opts) {
			p.kept++
			continue
		}
		p.steps = append(p.steps, Step{Action: Delete, Key: key, Size: obj.Size, Reason: "not in the folder"})
	}
}

// keepKey reports whether --delete keeps a bucket key the folder does not
// have: a key outside the prefix (never touched, whatever the listing
// says), one an exclude pattern matches (excluded files are neither
// uploaded nor deleted), a folder marker ending in '/', and a resize
// variant of a kept file (the gateway's default variant_key is
// "<key>?<options>"; a variant whose source is deleted goes with it).
func keepKey(key string, local map[string]bool, opts Options) bool {
	rel, ok := strings.CutPrefix(key, opts.Prefix)
	switch {
	case !ok || rel == "":
		return true
	case strings.HasSuffix(key, "/"):
		return true
	case matchAny(opts.Exclude, rel):
		return true
	}
	if i := strings.IndexByte(key, '?'); i > 0 && local[key[:i]] {
		return true
	}
	return false
}
