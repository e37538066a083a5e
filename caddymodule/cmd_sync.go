package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/r2gate/r2gate/origin"
	"github.com/r2gate/r2gate/publish"
)

// newSyncCommand is "caddy r2gate sync": it reads its flags and calls
// publish.Sync (publish/), where the sync is done and tested.
func newSyncCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sync [flags] <dir>",
		Short: "Uploads a folder to the bucket: what changed, and deletes what is gone",
		Long: `
Makes the bucket hold the files of <dir> under --prefix: a file is uploaded
when the bucket has no object under its key, or one of another size or
content (told by the object's ETag: the MD5 of the bytes, or for a multipart
upload the MD5 of its parts' MD5s, computed again with the part size that
uploaded it). A second run over an unchanged folder uploads nothing.

Each object gets the Content-Type of its extension (the gateway's table) and
the Cache-Control of the first --cache-control '<glob>=<value>' rule whose
glob matches its path relative to <dir> ('*' matches across '/', '?' one
character, '[0-9a-f]' a class), likewise --content-encoding for
pre-compressed files. --exclude leaves matching paths out, of the upload and
of --delete.

Files larger than --part-size (default 8MiB, at least 5MiB) are uploaded in
parts, 4 parts at once, retried, and aborted on any failure, so no parts are
left behind. HTML pages are uploaded after every other file, and deletes
come last: a run that fails holds them back and exits non-zero, listing the
failed keys, so the site visitors see never links to a missing file.

--delete removes the keys under --prefix that <dir> no longer has (never a
key outside the prefix; resize variants "<key>?..." of kept files are kept).
--dry-run prints the plan (upload, skip, delete per key, with sizes) and
changes nothing. --purge <admin-url> (repeatable; http://host:2019 or the
full /r2gate/purge URL) purges the uploaded and deleted keys from running
r2gate nodes afterwards, so a deploy is visible at once.

--cleanup first aborts unfinished multipart uploads under --prefix started
over a day ago (what a killed run leaves); without <dir> it does only that.

On a terminal a progress bar shows bytes, files, rate and ETA; otherwise
(CI logs) one line per file. A summary line ends the output.

The bucket comes from --bucket or R2_BUCKET; the endpoint from --endpoint, or
the R2 endpoint of --account-id or R2_ACCOUNT_ID (for AWS S3, pass --region).
Credentials come from R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY, else the AWS
default chain.`,
		Example: `  caddy r2gate sync dist --delete \
      --cache-control 'assets/*.[0-9a-f]*.js=public, max-age=31536000, immutable' \
      --cache-control '*.html=no-cache' --purge http://localhost:2019
  caddy r2gate sync --dry-run --prefix docs/ --exclude '*.map' build
  caddy r2gate sync --cleanup --prefix site/`,
		Args: cobra.ArbitraryArgs,
		RunE: caddycmd.WrapCommandFuncForCobra(cmdSync),
	}
	fs := cmd.Flags()
	fs.String("prefix", "", "key prefix the folder is uploaded under (a '/' is added)")
	fs.Bool("delete", false, "delete keys under --prefix that the folder no longer has")
	fs.Bool("dry-run", false, "print the plan and change nothing")
	fs.StringArray("exclude", nil, "leave out paths matching this glob (repeatable)")
	fs.StringArray("cache-control", nil, "'<glob>=<value>': Cache-Control of matching files (repeatable, first match wins)")
	fs.StringArray("content-encoding", nil, "'<glob>=<value>': Content-Encoding of matching pre-compressed files (repeatable)")
	fs.String("part-size", "8MiB", "multipart part size; larger files are uploaded in parts (at least 5MiB)")
	fs.Int("concurrency", publish.DefaultConcurrency, "files uploaded at once")
	fs.StringArray("purge", nil, "admin API URL of an r2gate node to purge the changed keys at (repeatable)")
	fs.Bool("cleanup", false, "abort unfinished multipart uploads under --prefix older than a day")
	addBucketFlags(cmd)
	return cmd
}

// cmdSync runs "caddy r2gate sync" with its parsed flags. An interrupt
// (Ctrl-C, SIGTERM) stops it: uploads in flight are aborted.
func cmdSync(fl caddycmd.Flags) (int, error) {
	f := syncFlags{
		Prefix:      fl.String("prefix"),
		Delete:      fl.Bool("delete"),
		DryRun:      fl.Bool("dry-run"),
		PartSize:    fl.String("part-size"),
		Concurrency: fl.Int("concurrency"),
		Cleanup:     fl.Bool("cleanup"),
		Bucket:      bucketFlagsFrom(fl),
	}
	for name, dst := range map[string]*[]string{
		"exclude": &f.Exclude, "cache-control": &f.CacheControl,
		"content-encoding": &f.ContentEncoding, "purge": &f.Purge,
	} {
		v, err := fl.GetStringArray(name)
		if err != nil {
			return caddy.ExitCodeFailedStartup, err
		}
		*dst = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
			return
		}
		signal.Stop(sigs) // a second Ctrl-C kills at once
		fmt.Fprintln(os.Stderr, "interrupted: aborting the uploads in flight (Ctrl-C again to quit at once)")
		cancel()
	}()
	tty := term.IsTerminal(int(os.Stdout.Fd()))
	if err := runSync(ctx, fl.Args(), f, os.Getenv, os.Stdout, tty); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	return caddy.ExitCodeSuccess, nil
}

// syncFlags are the flags of "caddy r2gate sync".
type syncFlags struct {
	Prefix                                        string
	Delete, DryRun, Cleanup                       bool
	Exclude, CacheControl, ContentEncoding, Purge []string
	PartSize                                      string
	Concurrency                                   int
	Bucket                                        bucketFlags
}

// runSync syncs args[0] to the bucket that f and the environment (getenv)
// name, writing the per-file lines (or, when tty, a progress bar) and the
// summary to out. It checks every flag, naming it in its errors, before
// it contacts the bucket.
func runSync(ctx context.Context, args []string, f syncFlags, getenv func(string) string, out io.Writer, tty bool) error {
	var dir string
	switch {
	case len(args) == 1 && args[0] != "":
		dir = args[0]
	case len(args) == 0 && f.Cleanup:
	default:
		return errors.New("need exactly one folder to sync, such as dist")
	}
	opts := publish.Options{
		Dir: dir, Prefix: f.Prefix, Exclude: f.Exclude, Delete: f.Delete, DryRun: f.DryRun,
		Concurrency: f.Concurrency, Purge: f.Purge, Out: out, Progress: tty,
	}
	for _, p := range f.Exclude {
		if err := publish.CheckPattern(p); err != nil {
			return fmt.Errorf("--exclude: %w", err)
		}
	}
	for _, r := range []struct {
		flag string
		in   []string
		dst  *[]publish.Rule
	}{
		{"--cache-control", f.CacheControl, &opts.CacheControl},
		{"--content-encoding", f.ContentEncoding, &opts.ContentEncoding},
	} {
		for _, s := range r.in {
			rule, err := publish.ParseRule(s)
			if err != nil {
				return fmt.Errorf("%s: %w", r.flag, err)
			}
			*r.dst = append(*r.dst, rule)
		}
	}
	ps, err := humanize.ParseBytes(f.PartSize)
	if err != nil {
		return fmt.Errorf("--part-size %q: %w", f.PartSize, err)
	}
	if ps < origin.MinPartSize || ps > origin.MaxPartSize {
		return fmt.Errorf("--part-size %q: want 5MiB to 5GiB (the bucket's limits for a part)", f.PartSize)
	}
	opts.PartSize = int64(ps)
	if f.Concurrency < 1 {
		return fmt.Errorf("--concurrency %d: want at least 1", f.Concurrency)
	}
	for _, u := range f.Purge {
		if err := publish.CheckPurgeURL(u); err != nil {
			return fmt.Errorf("--purge: %w", err)
		}
	}
	cfg, err := f.Bucket.s3Config(getenv)
	if err != nil {
		return err
	}
	b, err := origin.NewS3(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	if f.Cleanup {
		if _, err := publish.Cleanup(ctx, b, f.Prefix, publish.StaleUploadAge, time.Now(), f.DryRun, out); err != nil {
			return credentialsHint(err, cfg)
		}
		if dir == "" {
			return nil
		}
	}
	_, err = publish.Sync(ctx, b, opts)
	return credentialsHint(err, cfg)
}

// credentialsHint names the credential variables in an error that says
// the AWS default chain found no credentials.
func credentialsHint(err error, cfg origin.S3Config) error {
	if err != nil && cfg.AccessKey == "" && strings.Contains(err.Error(), "get credentials") {
		return fmt.Errorf("no usable credentials: set R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY, or AWS credentials: %w", err)
	}
	return err
}
