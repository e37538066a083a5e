package caddymodule

import (
	"fmt"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// r2gateSubcommands are the subcommands of "caddy r2gate", one file each
// (cmd_<name>.go): each builds its cobra command, reads its flags there
// and calls a plain Go function of a Caddy-free package that does the
// work. A new subcommand is one more line here.
func r2gateSubcommands() []*cobra.Command {
	return []*cobra.Command{
		newSignCommand(),    // cmd_sign.go
		newPresignCommand(), // cmd_presign.go
		newSyncCommand(),    // cmd_sync.go
	}
}

// registerCommands registers "caddy r2gate" and its subcommands. It is
// called once, from the package's init in register.go.
func registerCommands() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "r2gate",
		Usage: "<command>",
		Short: "r2gate tools: sign URLs for protected paths",
		Long: `
Tools for r2gate, the R2/S3 caching gateway.

"caddy r2gate sign" prints a signed path and query for a route protected with
signed_url, for example:

	caddy r2gate sign --key k1:s3cret --expires 1h '/img/cat.jpg?w=400'

"caddy r2gate presign" prints an S3 presigned URL for the bucket itself, for
example one a browser can upload with for 10 minutes:

	caddy r2gate presign --method PUT --expires 10m uploads/cat.png

"caddy r2gate sync" uploads a build folder to the bucket (only what changed),
deletes what is gone and purges the changed keys on running nodes, for example
from CI:

	caddy r2gate sync dist --delete --purge http://localhost:2019
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(r2gateSubcommands()...)
			cmd.RunE = func(cmd *cobra.Command, args []string) error {
				if len(args) > 0 {
					return fmt.Errorf("unknown r2gate command %q (try: caddy r2gate --help)", args[0])
				}
				return cmd.Help()
			}
		},
	})
}
