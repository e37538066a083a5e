package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/r2gate/r2gate/auth"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "r2gate",
		Usage: "sign (--key <kid>:<secret> | --key-env <VAR> | --cloudflare <secret> | --cloudflare-env <VAR>) [--expires <duration>] [--at <unix>] <path>",
		Short: "r2gate tools: sign URLs for protected paths",
		Long: `
Tools for r2gate, the R2/S3 caching gateway.

"caddy r2gate sign" prints a signed path and query for a route protected with
signed_url, for example:

	caddy r2gate sign --key k1:s3cret --expires 1h '/img/cat.jpg?w=400'
`,
		CobraFunc: func(cmd *cobra.Command) {
			sign := &cobra.Command{
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
				RunE: func(cmd *cobra.Command, args []string) error {
					var f signFlags
					fs := cmd.Flags()
					f.Key, _ = fs.GetString("key")
					f.KeyEnv, _ = fs.GetString("key-env")
					f.Cloudflare, _ = fs.GetString("cloudflare")
					f.CloudflareEnv, _ = fs.GetString("cloudflare-env")
					f.Expires, _ = fs.GetString("expires")
					f.ExpiresSet = fs.Changed("expires")
					f.At, _ = fs.GetString("at")
					// From here on errors are about the values, not the usage.
					cmd.SilenceUsage = true
					return signCommand(args, f, os.Getenv, cmd.OutOrStdout())
				},
			}
			sign.Flags().String("key", "", "native signing key as <kid>:<secret>")
			sign.Flags().String("key-env", "", "environment variable holding <kid>:<secret>")
			sign.Flags().String("cloudflare", "", "sign a Cloudflare-style ?verify= token with this secret")
			sign.Flags().String("cloudflare-env", "", "environment variable holding the Cloudflare secret")
			sign.Flags().String("expires", "1h", "how long a native signed URL stays valid")
			sign.Flags().String("at", "", "current time as unix seconds (default: now)")
			cmd.AddCommand(sign)
			cmd.RunE = func(cmd *cobra.Command, args []string) error {
				if len(args) > 0 {
					return fmt.Errorf("unknown r2gate command %q (try: caddy r2gate sign --help)", args[0])
				}
				return cmd.Help()
			}
		},
	})
}

// signFlags are the flags of "caddy r2gate sign".
type signFlags struct {
	Key, KeyEnv               string
	Cloudflare, CloudflareEnv string
	Expires                   string
	ExpiresSet                bool
	At                        string
}

// signCommand writes the signed form of args[0] to out, followed by a
// newline. getenv reads --key-env and --cloudflare-env.
func signCommand(args []string, f signFlags, getenv func(string) string, out io.Writer) error {
	if len(args) != 1 || args[0] == "" {
		return errors.New("need exactly one path to sign, such as /img/cat.jpg?w=400")
	}
	target := args[0]
	if strings.Contains(target, "://") {
		return errors.New("give the path and query only (/img/cat.jpg?w=400), not a full URL")
	}
	target, _, _ = strings.Cut(target, "#")
	path, rawQuery, _ := strings.Cut(target, "?")
	if path == "" {
		return errors.New("the path is empty")
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

	if nCF == 1 {
		secret, err := secretFrom(f.Cloudflare, "--cloudflare-env", f.CloudflareEnv, getenv)
		if err != nil {
			return err
		}
		if f.ExpiresSet {
			return errors.New("--expires does not apply to --cloudflare: the token carries its issue time and the server's lifetime applies")
		}
		if _, err := url.ParseQuery(rawQuery); err != nil {
			return fmt.Errorf("bad query: %v", err)
		}
		// Cloudflare signs the pathname as the browser sends it.
		p := browserPath(path)
		token := url.QueryEscape(auth.SignCloudflare(p, []byte(secret), now))
		sep := "?"
		if rawQuery != "" {
			sep = "?" + rawQuery + "&"
		}
		_, err = fmt.Fprintf(out, "%s%sverify=%s\n", p, sep, token)
		return err
	}

	keyText, err := secretFrom(f.Key, "--key-env", f.KeyEnv, getenv)
	if err != nil {
		return err
	}
	kid, secret, ok := strings.Cut(keyText, ":")
	if !ok || kid == "" || secret == "" {
		return errors.New("the key must be <kid>:<secret> with both parts non-empty")
	}
	if len(kid) > auth.MaxKidLen {
		return fmt.Errorf("the key id is longer than %d characters", auth.MaxKidLen)
	}
	d, err := caddy.ParseDuration(f.Expires)
	if err != nil {
		return fmt.Errorf("--expires %q: %v", f.Expires, err)
	}
	if d <= 0 {
		return fmt.Errorf("--expires %q: must be positive", f.Expires)
	}
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return fmt.Errorf("bad query: %v", err)
	}
	for name, vs := range query {
		if len(vs) > 1 {
			return fmt.Errorf("query parameter %q is repeated; a signed URL may carry each name only once", name)
		}
		if name == "exp" || name == "kid" || name == "sig" || name == "verify" {
			return fmt.Errorf("query parameter %q is reserved for the credential", name)
		}
	}
	_, err = fmt.Fprintln(out, auth.Sign(path, query, kid, []byte(secret), now.Add(d)))
	return err
}

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

// browserPath percent-encodes p the way a browser's URL parser does for a
// path (the WHATWG path percent-encode set: controls, space, '"', '#', '<',
// '>', '?', '`', '{', '}' and non-ASCII bytes), leaving existing %XX as is.
// The result is what URL.pathname holds and what is sent on the wire.
func browserPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte("\"#<>?`{}", c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
