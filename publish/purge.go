package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// PurgePath is the path of r2gate's purge route on Caddy's admin API.
const PurgePath = "/r2gate/purge"

// purgeBatch bounds the keys of one purge request: the admin API takes at
// most 10,000 and a body of at most 1 MiB (1,000 keys of the longest 1,024
// bytes fit).
const purgeBatch = 1000

// purgeURL returns the purge endpoint for an admin URL given as
// http://host:2019 (PurgePath is added) or with its full path.
func purgeURL(admin string) (string, error) {
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("purge URL %q: want the admin API's http(s)://host:port, such as http://localhost:2019", admin)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = PurgePath
	}
	return u.String(), nil
}

// purge asks the r2gate node at the admin URL to purge keys from its
// caches, in batches, and returns how many keys it sent. The first failed
// batch ends it.
func purge(ctx context.Context, client *http.Client, admin string, keys []string) (int, error) {
	endpoint, err := purgeURL(admin)
	if err != nil {
		return 0, err
	}
	sent := 0
	for len(keys) > 0 {
		batch := keys[:min(len(keys), purgeBatch)]
		keys = keys[len(batch):]
		body, err := json.Marshal(struct {
			Keys []string `json:"keys"`
		}{batch})
		if err != nil {
			return sent, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
		if err != nil {
			return sent, fmt.Errorf("purge at %s: %w", endpoint, err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return sent, fmt.Errorf("purge at %s: %w", endpoint, err)
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return sent, fmt.Errorf("purge at %s: %s: %s", endpoint, resp.Status, strings.TrimSpace(string(msg)))
		}
		sent += len(batch)
	}
	return sent, nil
}

// CheckPurgeURL reports an admin URL that purge requests cannot be sent
// to.
func CheckPurgeURL(admin string) error {
	_, err := purgeURL(admin)
	return err
}
