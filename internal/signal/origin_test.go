package signal

import (
	"net/http/httptest"
	"testing"
)

// Only pages of the server's own origin (or no page at all) have their
// session cookie name the person joining.
func TestSameOrigin(t *testing.T) {
	for _, c := range []struct {
		host, origin string
		want         bool
	}{
		{"meet.example.com", "", true}, // no browser page
		{"meet.example.com", "https://meet.example.com", true},
		{"meet.example.com:8443", "https://MEET.example.com:8443", true},
		{"meet.example.com", "https://shop.example.com", false},
		{"meet.example.com", "https://meet.example.com.evil.test", false},
		{"meet.example.com:8443", "https://meet.example.com", false}, // another port is another origin
		{"meet.example.com", "null", false},
		{"meet.example.com", "::", false},
	} {
		r := httptest.NewRequest("GET", "/api/v1/signal", nil)
		r.Host = c.host
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if got := sameOrigin(r); got != c.want {
			t.Errorf("host %q origin %q: %v, want %v", c.host, c.origin, got, c.want)
		}
	}
}
