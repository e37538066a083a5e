package caddymodule

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// testCaddyMainEnv is caddyMainEnv of the external test package: with it
// set, the test binary runs Caddy's main (see TestMain).
const testCaddyMainEnv = "R2GATE_TEST_CADDY_MAIN"

// runCaddyCLI runs Caddy's command line with args (the test binary doubles
// as Caddy, see TestMain) and env added to the environment.
func runCaddyCLI(t *testing.T, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), append(env, testCaddyMainEnv+"="+strings.Join(args, "\x1f"))...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func TestCommandR2gateIsRegisteredWithItsSubcommands(t *testing.T) {
	c, ok := caddycmd.Commands()["r2gate"]
	if !ok || c.CobraFunc == nil {
		t.Fatalf("caddy r2gate is not registered: %+v", c)
	}
	cmd := &cobra.Command{Use: "r2gate"}
	c.CobraFunc(cmd)
	var names []string
	for _, sub := range cmd.Commands() {
		names = append(names, sub.Name())
	}
	if want := []string{"presign", "sign", "sync"}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("subcommands %q, want %q", names, want)
	}
	sign, _, err := cmd.Find([]string{"sign"})
	if err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"key", "key-env", "cloudflare", "cloudflare-env", "expires", "at"} {
		if sign.Flags().Lookup(flag) == nil {
			t.Errorf("sign has no --%s", flag)
		}
	}
	if d := sign.Flags().Lookup("expires").DefValue; d != "1h" {
		t.Errorf("--expires defaults to %q, want 1h", d)
	}
}

func TestCommandR2gateCLI(t *testing.T) {
	t.Run("without a subcommand it prints its help", func(t *testing.T) {
		stdout, stderr, err := runCaddyCLI(t, nil, "r2gate")
		if err != nil {
			t.Fatalf("%v; stderr: %s", err, stderr)
		}
		if !strings.Contains(stdout, "sign") || !strings.Contains(stdout, "Prints a signed URL path") {
			t.Errorf("help does not list sign:\n%s", stdout)
		}
	})
	t.Run("an unknown subcommand is an error", func(t *testing.T) {
		_, stderr, err := runCaddyCLI(t, nil, "r2gate", "nope")
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Fatalf("err = %v, want a non-zero exit", err)
		}
		if !strings.Contains(stderr, `unknown r2gate command "nope"`) {
			t.Errorf("stderr %q does not name the command", stderr)
		}
	})
}
