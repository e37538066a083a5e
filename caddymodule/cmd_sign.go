package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/r2gate/r2gate/auth"
)

// newSignCommand is "caddy r2gate sign": it reads its flags and signs
// with auth.Target (auth/sign.go), where the signing is done and tested.
func newSignCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sign [flags] <path>",
		Short: "Prints a signed URL path for a signed_url route",
		Long: `
Prints <path> with exp, kid and sig added (r2gate's native signed URLs; every
query parameter in <path>, such as w=400, is covered by the signature), or
with --cloudflare a Cloudflare-style ?verify= token.

The secret comes from --key <kid>:<secret>, or from an environment variable
named by --key-env (value <kid>:<secret>) so that it does not end up in shell
history; likewise --cloudflare or --cloudflare-env for Cloudflare tokens.

--expires is how long the native URL stays valid (default 1h; "d" is
accepted as a unit). A Cloudflare token carries its issue time instead and is
valid for the lifetime configured on the server. --at fixes the current time
(unix seconds) for reproducible output.`,
		Example: `  caddy r2gate sign --key k1:s3cret --expires 1h '/img/cat.jpg?w=400'
  SIGNING_KEY=k1:s3cret caddy r2gate sign --key-env SIGNING_KEY /downloads/report.pdf
  caddy r2gate sign --cloudflare-env CF_SECRET /img/cat.jpg`,
		Args: cobra.ArbitraryArgs,
		RunE: caddycmd.WrapCommandFuncForCobra(cmdSign),
	}
	fs := cmd.Flags()
	fs.String("key", "", "native signing key as <kid>:<secret>")
	fs.String("key-env", "", "environment variable holding <kid>:<secret>")
	fs.String("cloudflare", "", "sign a Cloudflare-style ?verify= token with this secret")
	fs.String("cloudflare-env", "", "environment variable holding the Cloudflare secret")
	fs.String("expires", "1h", "how long a native signed URL stays valid")
	fs.String("at", "", "current time as unix seconds (default: now)")
	fs.String("method", "", "the one method the URL allows: GET, HEAD, PUT or DELETE (default: GET and HEAD)")
	fs.String("max-size", "", "for --method PUT: the largest body the URL may upload, such as 10MiB")
	fs.String("content-type", "", "for --method PUT: the Content-Type the upload must carry")
	return cmd
}

// cmdSign runs "caddy r2gate sign" with its parsed flags.
func cmdSign(fl caddycmd.Flags) (int, error) {
	f := signFlags{
		Key:           fl.String("key"),
		KeyEnv:        fl.String("key-env"),
		Cloudflare:    fl.String("cloudflare"),
		CloudflareEnv: fl.String("cloudflare-env"),
		Expires:       fl.String("expires"),
		ExpiresSet:    fl.Changed("expires"),
		At:            fl.String("at"),
		Method:        fl.String("method"),
		MaxSize:       fl.String("max-size"),
		ContentType:   fl.String("content-type"),
	}
	if err := runSign(fl.Args(), f, os.Getenv, os.Stdout); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	return caddy.ExitCodeSuccess, nil
}

// signFlags are the flags of "caddy r2gate sign".
type signFlags struct {
	Key, KeyEnv               string
	Cloudflare, CloudflareEnv string
	Expires                   string
	ExpiresSet                bool
	At                        string
	// Method, MaxSize and ContentType are a write grant (auth/grant.go),
	// added to the query before signing.
	Method, MaxSize, ContentType string
}

// runSign writes the signed form of args[0] to out, followed by a
// newline. It turns the flags into auth's inputs: which secret (getenv
// reads --key-env and --cloudflare-env), the time and the lifetime.
func runSign(args []string, f signFlags, getenv func(string) string, out io.Writer) error {
	if len(args) != 1 || args[0] == "" {
		return errors.New("need exactly one path to sign, such as /img/cat.jpg?w=400")
	}
	target, err := auth.ParseTarget(args[0])
	if err != nil {
		return err
	}
	if err := addGrant(&target, f); err != nil {
		return err
	}
	if (f.Method != "" || f.MaxSize != "" || f.ContentType != "") && countSet(f.Cloudflare, f.CloudflareEnv) > 0 {
		return errors.New("--method, --max-size and --content-type need a native key: Cloudflare tokens only read")
	}

	now := time.Now()
	if f.At != "" {
		at, err := strconv.ParseInt(f.At, 10, 64)
		if err != nil || at < 0 {
			return fmt.Errorf("--at %q: want unix seconds", f.At)
		}
		now = time.Unix(at, 0)
	}

	nKey := countSet(f.Key, f.KeyEnv)
	nCF := countSet(f.Cloudflare, f.CloudflareEnv)
	switch {
	case nKey+nCF == 0:
		return errors.New("need a secret: --key <kid>:<secret>, --key-env <VAR>, --cloudflare <secret> or --cloudflare-env <VAR>")
	case nKey+nCF > 1:
		return errors.New("use only one of --key, --key-env, --cloudflare and --cloudflare-env")
	}

	var signed string
	if nCF == 1 {
		secret, err := secretFrom(f.Cloudflare, "--cloudflare-env", f.CloudflareEnv, getenv)
		if err != nil {
			return err
		}
		if f.ExpiresSet {
			return errors.New("--expires does not apply to --cloudflare: the token carries its issue time and the server's lifetime applies")
		}
		if signed, err = target.SignCloudflare([]byte(secret), now); err != nil {
			return err
		}
	} else {
		keyText, err := secretFrom(f.Key, "--key-env", f.KeyEnv, getenv)
		if err != nil {
			return err
		}
		key, err := auth.ParseKey(keyText)
		if err != nil {
			return err
		}
		d, err := caddy.ParseDuration(f.Expires)
		if err != nil {
			return fmt.Errorf("--expires %q: %w", f.Expires, err)
		}
		if d <= 0 {
			return fmt.Errorf("--expires %q: must be positive", f.Expires)
		}
		if signed, err = target.Sign(key, now.Add(d)); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintln(out, signed)
	return err
}

// addGrant adds the write grant of f to the target's query.
func addGrant(t *auth.Target, f signFlags) error {
	var extra []string
	switch f.Method {
	case "":
	case "GET", "HEAD", "PUT", "DELETE":
		extra = append(extra, "method="+f.Method)
	default:
		return fmt.Errorf("--method %q: want GET, HEAD, PUT or DELETE", f.Method)
	}
	if f.MaxSize != "" || f.ContentType != "" {
		if f.Method != "PUT" {
			return errors.New("--max-size and --content-type go with --method PUT")
		}
	}
	if f.MaxSize != "" {
		n, err := parseSize(f.MaxSize)
		if err != nil || n < 1 {
			return fmt.Errorf("--max-size %q: want a size such as 10MiB", f.MaxSize)
		}
		extra = append(extra, "max_size="+strconv.FormatInt(n, 10))
	}
	if f.ContentType != "" {
		extra = append(extra, "content_type="+url.QueryEscape(f.ContentType))
	}
	for _, e := range extra {
		if t.RawQuery != "" {
			t.RawQuery += "&"
		}
		t.RawQuery += e
	}
	return nil
}

// countSet counts the non-empty strings of a and b.
func countSet(a, b string) int {
	n := 0
	for _, s := range []string{a, b} {
		if s != "" {
			n++
		}
	}
	return n
}

// secretFrom returns direct, or the value of the environment variable
// named envName (flag is that option's name, for errors).
func secretFrom(direct, flag, envName string, getenv func(string) string) (string, error) {
	if direct != "" {
		return direct, nil
	}
	v := getenv(envName)
	if v == "" {
		return "", fmt.Errorf("%s: environment variable %s is empty or unset", flag, envName)
	}
	return v, nil
}
