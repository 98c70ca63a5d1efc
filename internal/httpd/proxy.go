package httpd

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// behindProxy sets r.RemoteAddr to the client's address when the request
// comes from a trusted reverse proxy: the right-most address in
// X-Forwarded-For that is not itself a trusted proxy. (The left-most entries
// are whatever the client chose to send; only what our proxies appended is
// believed.) Rate limits, sign-in lockouts and logs then see the person, not
// the proxy, through which everyone would otherwise share one limit.
func behindProxy(r *http.Request, trusted []netip.Prefix) *http.Request {
	if len(trusted) == 0 {
		return r
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !isTrusted(peer.Addr(), trusted) {
		return r
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		a, err := netip.ParseAddr(hop)
		if err != nil { // some proxies add the port
			ap, perr := netip.ParseAddrPort(hop)
			if perr != nil {
				return r // a hop we cannot read: believe nothing before it
			}
			a = ap.Addr()
		}
		if !isTrusted(a, trusted) {
			r2 := new(http.Request)
			*r2 = *r
			r2.RemoteAddr = net.JoinHostPort(a.Unmap().String(), "0")
			return r2
		}
	}
	return r
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
