package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/r2gate/r2gate/origin"
)

// newPresignCommand is "caddy r2gate presign": it reads its flags and
// presigns with origin.S3.Presign (origin/presign.go), where the signing
// is done and tested against a real S3 server.
func newPresignCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "presign [flags] <key>",
		Short: "Prints an S3 presigned URL for an object of the bucket",
		Long: `
Prints an S3 SigV4 presigned URL for one request on <key> in the bucket
itself (not through r2gate): whoever holds the URL can, until it expires,
download the object (--method GET, the default), read its headers (HEAD),
upload or replace it (PUT) or delete it (DELETE), with no credentials of
their own, for example a browser uploading straight to R2.

<key> is the object key as stored, without a leading slash (img/cat.jpg).

--expires is how long the URL stays valid: default 15m, at least 1s, at most
7d (the SigV4 limit); "d" is accepted as a unit.

--content-type, for PUT only, signs the Content-Type into the URL: the upload
must send exactly that header (any other is refused with 403), and the object
is stored with it. Without it the uploader's Content-Type is stored.

The bucket comes from --bucket or R2_BUCKET; the endpoint from --endpoint, or
the R2 endpoint of --account-id or R2_ACCOUNT_ID (for AWS S3, pass --region).
Credentials come from R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY, else the AWS
default chain. The URL holds the access key ID (in X-Amz-Credential) and a
signature, never the secret key; the key's own permissions bound what the URL
can do. Nothing is sent to the bucket.`,
		Example: `  caddy r2gate presign --bucket assets --account-id "$CF_ACCOUNT" downloads/report.pdf
  caddy r2gate presign --method PUT --expires 10m --content-type image/png uploads/cat.png
  curl -X PUT -H 'Content-Type: image/png' --data-binary @cat.png "$(caddy r2gate presign --method PUT --content-type image/png uploads/cat.png)"`,
		Args: cobra.ArbitraryArgs,
		RunE: caddycmd.WrapCommandFuncForCobra(cmdPresign),
	}
	fs := cmd.Flags()
	fs.String("method", "GET", "request the URL is for: GET, HEAD, PUT or DELETE")
	fs.String("expires", "15m", "how long the URL stays valid (1s to 7d)")
	fs.String("content-type", "", "Content-Type a PUT must send (signed into the URL)")
	addBucketFlags(cmd)
	return cmd
}

// cmdPresign runs "caddy r2gate presign" with its parsed flags.
func cmdPresign(fl caddycmd.Flags) (int, error) {
	f := presignFlags{
		Method:      fl.String("method"),
		Expires:     fl.String("expires"),
		ContentType: fl.String("content-type"),
		Bucket:      bucketFlagsFrom(fl),
	}
	// Presigning sends nothing, but the AWS default chain may ask an
	// instance metadata service for credentials.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := runPresign(ctx, fl.Args(), f, os.Getenv, os.Stdout); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	return caddy.ExitCodeSuccess, nil
}

// presignFlags are the flags of "caddy r2gate presign".
type presignFlags struct {
	Method, Expires, ContentType string
	Bucket                       bucketFlags
}

// runPresign writes the presigned URL for args[0] to out, followed by a
// newline. It checks the flags (naming them in its errors) before it
// builds the bucket's client from them and the environment (getenv).
func runPresign(ctx context.Context, args []string, f presignFlags, getenv func(string) string, out io.Writer) error {
	if len(args) != 1 || args[0] == "" {
		return errors.New("need exactly one object key to presign, such as img/cat.jpg")
	}
	key := args[0]
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("key %s starts with a slash: bucket keys have none (img/cat.jpg is served at /img/cat.jpg)", origin.QuoteKey(key))
	}
	method := strings.ToUpper(f.Method)
	if !slices.Contains(origin.PresignMethods, method) {
		return fmt.Errorf("--method %.16q: want one of %s", f.Method, strings.Join(origin.PresignMethods, ", "))
	}
	d, err := caddy.ParseDuration(f.Expires)
	if err != nil {
		return fmt.Errorf("--expires %q: %w", f.Expires, err)
	}
	if d < time.Second || d > origin.MaxPresignExpires {
		return fmt.Errorf("--expires %q: want 1s to 7d (the SigV4 limit)", f.Expires)
	}
	if f.ContentType != "" && method != "PUT" {
		return fmt.Errorf("--content-type applies only to --method PUT, not %s", method)
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
	u, err := b.Presign(ctx, method, key, d, origin.PresignOptions{ContentType: f.ContentType})
	if err != nil && cfg.AccessKey == "" {
		// The flags are checked: what is left is finding credentials.
		return fmt.Errorf("no usable credentials: set R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY, or AWS credentials: %w", err)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, u)
	return err
}
