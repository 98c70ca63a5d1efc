package sip

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Tests against a real SIP peer: sipp (Debian package sip-tester), with
// the scenarios in testdata/. Without sipp they are skipped, unless CI is
// set: then they fail, because CI must run them (scripts/test.sh installs it).

func sippBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("sipp is not installed (apt-get install sip-tester); CI must run the SIP peer tests")
		}
		t.Skip("sipp is not installed (apt-get install sip-tester)")
	}
	return bin
}

// freePort returns a port that was free on 127.0.0.1 for network.
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// sipp runs one call of scenario against the server from 127.0.0.1 and
// returns whether sipp reported success, with its output.
func sipp(t *testing.T, h *harness, transport, scenario, user, password string, extra ...string) (bool, string) {
	t.Helper()
	bin := sippBinary(t)
	target, network, flag := h.s.Addrs().UDP.String(), "udp", "u1"
	if transport == "tcp" {
		target, network, flag = h.s.Addrs().TCP.String(), "tcp", "t1"
	}
	scen, err := filepath.Abs(filepath.Join("testdata", scenario))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{
		target, "-sf", scen, "-t", flag, "-i", "127.0.0.1",
		"-s", user, "-au", user, "-ap", password,
		"-m", "1", "-nostdin", "-timeout", "10s", "-timeout_error",
	}
	if !slices.Contains(extra, "-p") {
		args = append(args, "-p", strconv.Itoa(freePort(t, network)))
	}
	args = append(args, extra...)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir() // sipp may write logs into its working directory
	out, err := cmd.CombinedOutput()
	return err == nil, string(out)
}

func TestSippRegister(t *testing.T) {
	sippBinary(t)
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			// sipp 3.6 knows MD5 only and reads only the first challenge:
			// the default order (MD5 first) must work for it.
			h := newHarness(t, nil)
			if ok, out := sipp(t, h, transport, "register.xml", "alice", "secret", "-key", "expires", "120"); !ok {
				t.Fatalf("sipp register failed:\n%s", out)
			}
			bs := h.s.Bindings("alice")
			if len(bs) != 1 || bs[0].UserAgent != "sipp" || bs[0].Transport != strings.ToUpper(transport) {
				t.Fatalf("bindings: %+v", bs)
			}
			// Registrations expire.
			h.clock.advance(121 * time.Second)
			if n := len(h.s.Bindings("alice")); n != 0 {
				t.Fatalf("%d bindings after expiry", n)
			}
			// Register again, then unregister the same contact (same port)
			// with Expires: 0.
			port := strconv.Itoa(freePort(t, transport))
			if ok, out := sipp(t, h, transport, "register.xml", "alice", "secret", "-key", "expires", "120", "-p", port); !ok {
				t.Fatalf("sipp register failed:\n%s", out)
			}
			if n := len(h.s.Bindings("alice")); n != 1 {
				t.Fatalf("%d bindings after the second register", n)
			}
			if ok, out := sipp(t, h, transport, "register.xml", "alice", "secret", "-key", "expires", "0", "-p", port); !ok {
				t.Fatalf("sipp unregister failed:\n%s", out)
			}
			if n := len(h.s.Bindings("alice")); n != 0 {
				t.Fatalf("%d bindings after unregister", n)
			}
		})
	}
}

func TestSippWrongPasswordBlocks(t *testing.T) {
	sippBinary(t)
	h := newHarness(t, func(c *Config) {
		c.AuthFailuresPerIP = 2
	})
	for i := range 2 {
		if ok, out := sipp(t, h, "udp", "register_forbidden.xml", "alice", "guess"+strconv.Itoa(i), "-key", "expires", "120"); !ok {
			t.Fatalf("wrong password %d was not refused with 403:\n%s", i, out)
		}
	}
	// The third failure blocks the source: sipp hears nothing back.
	if ok, _ := sipp(t, h, "udp", "register_forbidden.xml", "alice", "guess3", "-key", "expires", "120"); ok {
		t.Fatal("third wrong password answered 403; want silence")
	}
	if ok, out := sipp(t, h, "udp", "register_unanswered.xml", "alice", "secret"); !ok {
		t.Fatalf("blocked source was answered:\n%s", out)
	}
	if h.m.SourcesBlocked.Load() != 1 {
		t.Fatalf("blocked %d times", h.m.SourcesBlocked.Load())
	}
	// Others (here: the same address once unblocked) are served.
	h.s.Unblock(netip.MustParseAddr("127.0.0.1"))
	if ok, out := sipp(t, h, "udp", "register.xml", "alice", "secret", "-key", "expires", "120"); !ok {
		t.Fatalf("register after unblock failed:\n%s", out)
	}
}
