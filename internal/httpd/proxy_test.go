package httpd

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

// Behind a reverse proxy, each person is told apart by the address the
// proxy saw; nobody can choose their own address by sending the header.
func TestBehindProxy(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.5/32")}
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy: the header is ignored", "203.0.113.9:4000", []string{"198.51.100.1"}, "203.0.113.9:4000"},
		{"from the proxy", "10.1.2.3:5000", []string{"198.51.100.1"}, "198.51.100.1:0"},
		{"a forged left-most entry is skipped", "10.1.2.3:5000", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1:0"},
		{"two proxies", "192.168.1.5:5000", []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1:0"},
		{"several headers", "10.1.2.3:5000", []string{"6.6.6.6", "198.51.100.1"}, "198.51.100.1:0"},
		{"IPv6 client", "10.1.2.3:5000", []string{"2001:db8::7"}, "[2001:db8::7]:0"},
		{"hop with a port", "10.1.2.3:5000", []string{"198.51.100.1:61000"}, "198.51.100.1:0"},
		{"unreadable hop: believe nothing", "10.1.2.3:5000", []string{"198.51.100.1, garbage"}, "10.1.2.3:5000"},
		{"only proxies", "10.1.2.3:5000", []string{"10.4.4.4"}, "10.1.2.3:5000"},
		{"no header", "10.1.2.3:5000", nil, "10.1.2.3:5000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := behindProxy(r, trusted).RemoteAddr; got != tc.want {
				t.Errorf("client address %q, want %q", got, tc.want)
			}
		})
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.2.3:5000"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	if got := behindProxy(r, nil).RemoteAddr; got != "10.1.2.3:5000" {
		t.Errorf("without trusted proxies the header was believed: %q", got)
	}
}
