package webhook

import (
	"net/netip"
	"testing"
)

func TestIsPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8":          true,
		"2606:4700::1111":  true,
		"142.250.1.1":      true,
		"127.0.0.1":        false,
		"127.1.2.3":        false,
		"::1":              false,
		"10.1.2.3":         false,
		"172.16.0.1":       false,
		"192.168.1.1":      false,
		"169.254.169.254":  false, // cloud metadata
		"fe80::1%eth0":     false,
		"fd00::1":          false,
		"0.0.0.0":          false,
		"::":               false,
		"224.0.0.1":        false,
		"ff02::1":          false,
		"255.255.255.255":  false,
		"100.64.0.1":       false,
		"::ffff:127.0.0.1": false,
		"::ffff:10.0.0.1":  false,
		"64:ff9b::a00:1":   false,
		"2002:7f00:1::1":   false,
		"198.18.0.1":       false,
		"2001:db8::1":      false,
		"::ffff:8.8.8.8":   true,
	} {
		if got := isPublic(netip.MustParseAddr(addr)); got != want {
			t.Errorf("isPublic(%s) = %v, want %v", addr, got, want)
		}
	}
}
