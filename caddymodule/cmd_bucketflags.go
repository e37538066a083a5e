package caddymodule

import (
	"errors"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/r2gate/r2gate/origin"
)

// bucketFlags name a bucket and how to reach it, for the "caddy r2gate"
// subcommands that talk to the bucket itself (presign, and any other that
// adds them with addBucketFlags). They mirror the handler's bucket,
// endpoint, account_id and region, with the same environment fallbacks.
// Credentials are never flags (they would end up in shell history): they
// come from R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY, else from the AWS
// default chain (AWS_ACCESS_KEY_ID, shared files, roles).
type bucketFlags struct {
	Bucket, Endpoint, AccountID, Region string
}

// addBucketFlags adds --bucket, --endpoint, --account-id and --region to
// cmd.
func addBucketFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.String("bucket", "", "bucket name (default: $R2_BUCKET)")
	fs.String("endpoint", "", "S3 API endpoint URL (default: the R2 endpoint of --account-id)")
	fs.String("account-id", "", "Cloudflare account ID (default: $R2_ACCOUNT_ID)")
	fs.String("region", "", `bucket region (default: "auto", what R2 expects; required for AWS S3)`)
}

// bucketFlagsFrom reads the flags addBucketFlags added.
func bucketFlagsFrom(fl caddycmd.Flags) bucketFlags {
	return bucketFlags{
		Bucket:    fl.String("bucket"),
		Endpoint:  fl.String("endpoint"),
		AccountID: fl.String("account-id"),
		Region:    fl.String("region"),
	}
}

// s3Config resolves the flags with the environment (getenv) into the
// bucket's configuration: flags first, then R2_BUCKET, R2_ACCOUNT_ID,
// R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY. Without an endpoint or an
// account ID the bucket is on AWS S3, which needs an explicit --region
// ("auto" names no AWS region). Its errors hold no secrets.
func (f bucketFlags) s3Config(getenv func(string) string) (origin.S3Config, error) {
	cfg := origin.S3Config{Bucket: f.Bucket, Endpoint: f.Endpoint, Region: f.Region}
	if cfg.Bucket == "" {
		cfg.Bucket = getenv("R2_BUCKET")
	}
	if cfg.Bucket == "" {
		return origin.S3Config{}, errors.New("no bucket: pass --bucket or set R2_BUCKET")
	}
	if cfg.Endpoint == "" {
		account := f.AccountID
		if account == "" {
			account = getenv("R2_ACCOUNT_ID")
		}
		if account != "" {
			cfg.Endpoint = origin.R2Endpoint(account)
		}
	}
	if cfg.Endpoint == "" && cfg.Region == "" {
		return origin.S3Config{}, errors.New("no endpoint: pass --endpoint or --account-id, or set R2_ACCOUNT_ID (for AWS S3, pass --region)")
	}
	cfg.AccessKey, cfg.SecretKey = getenv("R2_ACCESS_KEY_ID"), getenv("R2_SECRET_ACCESS_KEY")
	if (cfg.AccessKey == "") != (cfg.SecretKey == "") {
		return origin.S3Config{}, errors.New("R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY must be set together (or neither, for the AWS default credential chain)")
	}
	return cfg, nil
}
