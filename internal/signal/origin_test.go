package signal

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

// Only pages of the server's own origin (or no page at all) have their
// session cookie name the person joining.
func TestSameOrigin(t *testing.T) {
	for _, c := range []struct {
		host, origin string
		tls          bool
		want         bool
	}{
		{"meet.example.com", "", true, true}, // no browser page
		{"meet.example.com", "https://meet.example.com", true, true},
		{"meet.example.com:8443", "https://MEET.example.com:8443", true, true},
		{"meet.example.com", "https://shop.example.com", true, false},
		{"meet.example.com", "https://meet.example.com.evil.test", true, false},
		{"meet.example.com:8443", "https://meet.example.com", true, false}, // another port is another origin
		{"meet.example.com", "null", true, false},
		{"meet.example.com", "::", true, false},
		// A page on plain http is not the https server's, though the host matches.
		{"meet.example.com", "http://meet.example.com", true, false},
		{"localhost:8080", "http://localhost:8080", false, true}, // a server without TLS
	} {
		r := httptest.NewRequest("GET", "/api/v1/signal", nil)
		r.Host = c.host
		if c.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if got := sameOrigin(r); got != c.want {
			t.Errorf("host %q origin %q: %v, want %v", c.host, c.origin, got, c.want)
		}
	}
}
