package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestPurgeWebhookCaddyfile(t *testing.T) {
	var p PurgeWebhook
	input := "r2gate_purge {\n secret {env.S}\n bucket assets\n}"
	if err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
		t.Fatal(err)
	}
	if p.Secret != "{env.S}" || p.Bucket != "assets" {
		t.Errorf("parsed %+v", p)
	}
	bad := map[string]string{
		"no secret":              "r2gate_purge {\n bucket assets\n}",
		"no block":               "r2gate_purge",
		"secret without a value": "r2gate_purge {\n secret\n}",
		"secret with two values": "r2gate_purge {\n secret a b\n}",
		"duplicate secret":       "r2gate_purge {\n secret a\n secret b\n}",
		"duplicate bucket":       "r2gate_purge {\n secret a\n bucket x\n bucket y\n}",
		"unknown subdirective":   "r2gate_purge {\n secret a\n colour blue\n}",
		"inline argument":        "r2gate_purge a",
	}
	for name, input := range bad {
		t.Run(name, func(t *testing.T) {
			var p PurgeWebhook
			if err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err == nil {
				t.Errorf("no error for:\n%s", input)
			}
		})
	}
}

func TestPurgeWebhookDirectiveOrder(t *testing.T) {
	// Written after r2gate, without matchers on r2gate: the webhook must
	// still come first, or r2gate would answer its POSTs with 405.
	input := ":8080 {\n r2gate {\n  dir .\n }\n r2gate_purge /_r2gate/purge {\n  secret x\n }\n}"
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), nil)
	if err != nil {
		t.Fatal(err)
	}
	purgeAt := strings.Index(string(out), `"handler":"r2gate_purge"`)
	gateAt := strings.Index(string(out), `"handler":"r2gate"`)
	if purgeAt < 0 || gateAt < 0 || purgeAt > gateAt {
		t.Errorf("r2gate_purge does not come before r2gate:\n%s", out)
	}
}
