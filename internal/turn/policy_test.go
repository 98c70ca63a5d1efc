package turn

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestPolicyAllowed(t *testing.T) {
	own := func() []netip.AddrPort {
		return []netip.AddrPort{
			netip.MustParseAddrPort("127.0.0.1:7881"),
			netip.MustParseAddrPort("[fd00::5]:7881"),
			netip.MustParseAddrPort("0.0.0.0:9999"), // ignored: unspecified
		}
	}
	def := Policy{OwnAddrs: own}
	priv := Policy{AllowPrivatePeers: true}
	list := Policy{AllowedPeers: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("::ffff:169.254.0.0/112"), // mapped form works too
		netip.MustParsePrefix("0.0.0.0/0"),              // cannot open never-ranges
	}}

	cases := []struct {
		p    Policy
		addr string
		want bool
	}{
		// public
		{def, "8.8.8.8:53", true},
		{def, "[2606:4700::1111]:443", true},
		{def, "[::ffff:8.8.8.8]:53", true},
		// own address: exactly that port
		{def, "127.0.0.1:7881", true},
		{def, "[::ffff:127.0.0.1]:7881", true},
		{def, "127.0.0.1:53", false},
		{def, "127.0.0.1:7882", false},
		{def, "127.0.0.2:7881", false},
		{def, "[fd00::5]:7881", true},
		{def, "[fd00::5]:22", false},
		{def, "0.0.0.0:9999", false},
		{def, "8.8.8.8:0", false},
		// refused by default, each range
		{def, "127.0.0.1:80", false},
		{def, "[::1]:80", false},
		{def, "10.1.2.3:80", false},
		{def, "172.16.0.1:80", false},
		{def, "172.31.255.255:80", false},
		{def, "192.168.1.1:80", false},
		{def, "100.64.0.1:80", false},
		{def, "100.127.255.255:80", false},
		{def, "169.254.169.254:80", false},
		{def, "[fe80::1]:80", false},
		{def, "[fe80::1%eth0]:80", false},
		{def, "[fc00::1]:80", false},
		{def, "[fd12:3456::1]:80", false},
		{def, "224.0.0.1:80", false},
		{def, "239.255.255.250:1900", false},
		{def, "[ff02::1]:80", false},
		{def, "255.255.255.255:80", false},
		{def, "0.0.0.0:80", false},
		{def, "0.1.2.3:80", false},
		{def, "[::]:80", false},
		{def, "192.0.2.1:80", false},
		{def, "198.18.0.1:80", false},
		{def, "240.0.0.1:80", false},
		{def, "[::ffff:10.0.0.1]:80", false},
		{def, "[::ffff:127.0.0.1]:80", false},
		{def, "[::10.0.0.1]:80", false},      // IPv4-compatible
		{def, "[64:ff9b::a00:1]:80", false},  // NAT64 of 10.0.0.1
		{def, "[2002:a00:1::1]:80", false},   // 6to4 of 10.0.0.1
		{def, "[2001:0:a00:1::1]:80", false}, // Teredo
		{def, "[2001:db8::1]:80", false},     // documentation
		// boundaries just outside private ranges stay public
		{def, "172.32.0.1:80", true},
		{def, "100.128.0.1:80", true},
		{def, "11.0.0.1:80", true},
		// AllowPrivatePeers opens the LAN, not loopback/link-local
		{priv, "10.1.2.3:80", true},
		{priv, "[::ffff:192.168.0.9]:80", true},
		{priv, "100.64.0.1:80", true},
		{priv, "[fd00::1]:80", true},
		{priv, "127.0.0.1:80", false},
		{priv, "169.254.169.254:80", false},
		{priv, "224.0.0.1:80", false},
		// AllowedPeers
		{list, "127.0.0.1:80", true},
		{list, "169.254.1.1:80", true},
		{list, "10.0.0.1:80", true},
		{list, "0.0.0.0:80", false},
		{list, "224.0.0.1:80", false},
		{list, "255.255.255.255:80", false},
		{list, "[::1]:80", false}, // v4 prefixes do not cover v6 loopback
	}
	for _, c := range cases {
		if got := c.p.Allowed(netip.MustParseAddrPort(c.addr)); got != c.want {
			t.Errorf("%+v Allowed(%s) = %v, want %v", c.p.AllowPrivatePeers, c.addr, got, c.want)
		}
	}
	if (Policy{}).Allowed(netip.AddrPort{}) {
		t.Error("invalid AddrPort allowed")
	}
}

func TestPolicyAllowedIP(t *testing.T) {
	p := Policy{OwnAddrs: func() []netip.AddrPort {
		return []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:7881")}
	}}
	for addr, want := range map[string]bool{
		"127.0.0.1":        true, // own IP: permission granted, ports checked per packet
		"::ffff:127.0.0.1": true,
		"127.0.0.2":        false,
		"10.0.0.1":         false,
		"192.168.1.1":      false,
		"1.1.1.1":          true,
	} {
		if got := p.AllowedIP(netip.MustParseAddr(addr)); got != want {
			t.Errorf("AllowedIP(%s) = %v, want %v", addr, got, want)
		}
	}
	if p.AllowedIP(netip.Addr{}) {
		t.Error("invalid Addr allowed")
	}
}

func TestParseUsername(t *testing.T) {
	for in, want := range map[string]struct {
		exp  int64
		user string
		ok   bool
	}{
		"1700000000:alice":       {1700000000, "alice", true},
		"1:a:b":                  {1, "a:b", true},
		"alice":                  {ok: false},
		"1700000000":             {ok: false},
		"1700000000:":            {ok: false},
		":alice":                 {ok: false},
		"-1:alice":               {ok: false},
		"+1:alice":               {ok: false},
		" 1:alice":               {ok: false},
		"0x10:alice":             {ok: false},
		"99999999999999999999:a": {ok: false},
		"1:\xff":                 {ok: false},
	} {
		exp, user, err := parseUsername(in)
		if (err == nil) != want.ok || exp != want.exp || user != want.user {
			t.Errorf("parseUsername(%q) = %d, %q, %v; want %+v", in, exp, user, err, want)
		}
	}
}

func FuzzParseUsername(f *testing.F) {
	for _, s := range []string{"1700000000:alice", "1:a:b", ":", "", "9223372036854775807:x", "9223372036854775808:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		exp, user, err := parseUsername(in)
		if err != nil {
			return
		}
		// The user part is everything after the first colon, and what
		// Credentials mints from the parsed pieces parses back to them.
		if !strings.HasSuffix(in, ":"+user) || strings.IndexByte(in, ':') != len(in)-len(user)-1 {
			t.Fatalf("%q: user %q is not the part after the first colon", in, user)
		}
		u, _ := Credentials([]byte("k"), user, 0, time.Unix(exp, 0))
		if exp2, user2, err := parseUsername(u); err != nil || exp2 != exp || user2 != user {
			t.Fatalf("re-parse of %q = %d, %q, %v", u, exp2, user2, err)
		}
	})
}
