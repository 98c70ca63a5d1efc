package turn

import "net/netip"

// Policy decides which peers a relay may exchange packets with.
//
// A TURN server relays UDP from an authenticated client to any address the
// client names. Left open, it would be a proxy into the network it runs in:
// loopback services, the LAN, the cloud metadata endpoint. So only public
// unicast peers are allowed by default. Two ways widen that:
//
//   - AllowPrivatePeers and AllowedPeers widen it per IP range, for sites where
//     clients and peers share a LAN.
//   - OwnAddrs names the server's own media endpoints (ip:port). They are
//     always allowed, port-exactly, so that a relay-only browser reaches the
//     SFU even when the SFU listens on 127.0.0.1 or a private address, without
//     opening any other port on that IP.
//
// The zero value allows public unicast peers only.
type Policy struct {
	// AllowPrivatePeers allows RFC 1918, CGNAT (100.64/10) and ULA (fc00::/7)
	// peers. It deliberately does not allow loopback or link-local peers:
	// those are the server itself and 169.254.169.254 (cloud metadata); name
	// them in AllowedPeers if you really mean it.
	AllowPrivatePeers bool
	// AllowedPeers are extra allowed ranges. They override every refusal
	// except unspecified, multicast and broadcast addresses, which are never
	// valid unicast peers (and 0.0.0.0 reaches the local host on Linux).
	AllowedPeers []netip.Prefix
	// OwnAddrs returns the server's own media addresses, always allowed
	// port-exactly. It is called for every relayed packet to a non-public
	// peer, so it must be cheap and safe for concurrent use (return a
	// precomputed slice). Entries with an unspecified IP or port 0 are
	// ignored: a peer never sends to those.
	OwnAddrs func() []netip.AddrPort
}

// Allowed reports whether the relay may send to, and accept packets from, addr.
func (p Policy) Allowed(addr netip.AddrPort) bool {
	a := normalize(addr.Addr())
	if !a.IsValid() || addr.Port() == 0 {
		return false
	}
	// The class check first: it is cheap and spares calling OwnAddrs for
	// every packet to a public peer.
	return p.ipAllowed(a) || p.isOwn(a, addr.Port(), true)
}

// AllowedIP is the per-IP check for TURN permissions (CreatePermission,
// ChannelBind). TURN permissions carry no port, so the IP of an own address
// passes here; the port-exact check happens per packet with Allowed.
func (p Policy) AllowedIP(ip netip.Addr) bool {
	a := normalize(ip)
	if !a.IsValid() {
		return false
	}
	return p.ipAllowed(a) || p.isOwn(a, 0, false)
}

func normalize(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

func (p Policy) isOwn(a netip.Addr, port uint16, matchPort bool) bool {
	if p.OwnAddrs == nil {
		return false
	}
	for _, own := range p.OwnAddrs() {
		oa := normalize(own.Addr())
		if !oa.IsValid() || oa.IsUnspecified() || own.Port() == 0 {
			continue
		}
		if oa == a && (!matchPort || own.Port() == port) {
			return true
		}
	}
	return false
}

func (p Policy) ipAllowed(a netip.Addr) bool {
	switch classify(a) {
	case classNever:
		return false
	case classPublic:
		return true
	case classPrivate:
		if p.AllowPrivatePeers {
			return true
		}
	}
	for _, pfx := range p.AllowedPeers {
		if prefixContains(pfx, a) {
			return true
		}
	}
	return false
}

// prefixContains treats an IPv4-mapped prefix (::ffff:10.0.0.0/104) like its
// IPv4 form, since addresses are unmapped before matching.
func prefixContains(pfx netip.Prefix, a netip.Addr) bool {
	if pa := pfx.Addr(); pa.Is4In6() && pfx.Bits() >= 96 {
		pfx = netip.PrefixFrom(pa.Unmap(), pfx.Bits()-96)
	}
	return pfx.Contains(a)
}

type peerClass int

const (
	classPublic  peerClass = iota
	classPrivate           // allowed by AllowPrivatePeers
	classSpecial           // allowed only by AllowedPeers
	classNever             // never a unicast peer
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// These tables are read-only after init.
var (
	never4 = mustPrefixes("0.0.0.0/8", "224.0.0.0/4", "255.255.255.255/32")
	// 100.64/10 is CGNAT: on a cloud VM it is often the provider's internal net.
	private4 = mustPrefixes("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
	special4 = mustPrefixes(
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local, cloud metadata
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // TEST-NET-1
		"192.88.99.0/24",  // 6to4 relay anycast
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // TEST-NET-2
		"203.0.113.0/24",  // TEST-NET-3
		"240.0.0.0/4",     // reserved
	)
	never6   = mustPrefixes("::/128", "ff00::/8")
	private6 = mustPrefixes("fc00::/7")
	global6  = netip.MustParsePrefix("2000::/3")
	// Inside 2000::/3 but not plain global unicast. 6to4 and Teredo embed an
	// IPv4 address we would otherwise have to police as well.
	special6 = mustPrefixes("2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20")
)

func inAny(a netip.Addr, list []netip.Prefix) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// classify expects an unmapped, zoneless address. IPv6 outside 2000::/3 and
// ULA (loopback, link-local, NAT64, IPv4-compatible, discard...) is special.
func classify(a netip.Addr) peerClass {
	if a.Is4() {
		switch {
		case inAny(a, never4):
			return classNever
		case inAny(a, private4):
			return classPrivate
		case inAny(a, special4):
			return classSpecial
		}
		return classPublic
	}
	switch {
	case inAny(a, never6):
		return classNever
	case inAny(a, private6):
		return classPrivate
	case !global6.Contains(a), inAny(a, special6):
		return classSpecial
	}
	return classPublic
}
