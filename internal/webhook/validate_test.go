package webhook

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// FuzzValidateURL: webhook URLs come from admins' input; whatever is accepted
// is an http(s) URL with a host and no credentials, and without AllowPrivate
// never a non-public IP literal or localhost.
func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{"https://example.com/hook?token=x", "http://127.0.0.1:8080/", "http://[::ffff:10.0.0.1]/",
		"http://localhost./", "https://user@example.com", "ftp://x", "http://%31%32%37.0.0.1/", "http://[fe80::1%25eth0]/"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, allowPrivate bool) {
		if validateURL(raw, allowPrivate) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil || len(raw) > maxURL {
			t.Fatalf("accepted %q", raw)
		}
		if allowPrivate {
			return
		}
		h := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
		if ip, err := netip.ParseAddr(h); err == nil && !isPublic(ip) || h == "localhost" {
			t.Fatalf("accepted non-public %q", raw)
		}
	})
}
