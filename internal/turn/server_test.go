package turn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	pionturn "github.com/pion/turn/v5"
)

const testSecret = "test-secret"

// testLogger enables every level, pion's chatter included, so the logging
// paths run under -race; output is discarded because pion goroutines may
// still log after a test has finished.
func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: levelPionDebug}))
}

func startServer(t *testing.T, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{
		UDPAddr: "127.0.0.1:0",
		TCPAddr: "127.0.0.1:0",
		Secret:  []byte(testSecret),
		Logger:  testLogger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// peer is a UDP socket on loopback standing in for the SFU or some other
// local service.
func peer(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrPort(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

func ownAddrs(ps ...*net.UDPConn) func() []netip.AddrPort {
	var own []netip.AddrPort
	for _, p := range ps {
		own = append(own, addrPort(p))
	}
	return func() []netip.AddrPort { return own }
}

// newClient makes a pion TURN client over conn (UDP, or a STUNConn for TCP/TLS).
func newClient(t *testing.T, server net.Addr, conn net.PacketConn, username, password string) *pionturn.Client {
	t.Helper()
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: server.String(),
		TURNServerAddr: server.String(),
		Username:       username,
		Password:       password,
		Conn:           conn,
		RTO:            100 * time.Millisecond,
		LoggerFactory:  pionLogs{testLogger()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	return c
}

func udpClient(t *testing.T, s *Server, username, password string) *pionturn.Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, s.UDPAddr(), conn, username, password)
}

func allocate(t *testing.T, c *pionturn.Client) net.PacketConn {
	t.Helper()
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	t.Cleanup(func() { relay.Close() })
	return relay
}

func turnCode(err error) stun.ErrorCode {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return te.ErrorCodeAttr.Code
	}
	return 0
}

func readWithin(c net.PacketConn, d time.Duration) ([]byte, net.Addr, error) {
	buf := make([]byte, 1500)
	c.SetReadDeadline(time.Now().Add(d))
	n, from, err := c.ReadFrom(buf)
	return buf[:n], from, err
}

// roundTrip sends msg from the client through the relay to p and a reply
// back, checking both arrive with the right addresses.
func roundTrip(t *testing.T, relay net.PacketConn, p *net.UDPConn, msg string) {
	t.Helper()
	if _, err := relay.WriteTo([]byte(msg), p.LocalAddr()); err != nil {
		t.Fatalf("relay WriteTo: %v", err)
	}
	got, from, err := readWithin(p, 2*time.Second)
	if err != nil || string(got) != msg {
		t.Fatalf("peer got %q, %v; want %q", got, err, msg)
	}
	if from.(*net.UDPAddr).Port != relay.LocalAddr().(*net.UDPAddr).Port {
		t.Fatalf("peer got packet from %v, want relay %v", from, relay.LocalAddr())
	}
	if _, err := p.WriteTo([]byte("re:"+msg), from); err != nil {
		t.Fatal(err)
	}
	got, from, err = readWithin(relay, 2*time.Second)
	if err != nil || string(got) != "re:"+msg {
		t.Fatalf("client got %q, %v; want reply", got, err)
	}
	if from.String() != p.LocalAddr().String() {
		t.Fatalf("reply from %v, want %v", from, p.LocalAddr())
	}
}

func TestRESTCredentials(t *testing.T) {
	s := startServer(t, nil)
	now := time.Now()
	sign := func(username string) string { return restPassword([]byte(testSecret), username) }

	t.Run("minted", func(t *testing.T) {
		u, p := Credentials([]byte(testSecret), "alice", time.Minute, now)
		relay := allocate(t, udpClient(t, s, u, p))
		if ip := relay.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Fatalf("relay IP %v, want the listen IP 127.0.0.1", ip)
		}
	})

	refused := map[string][2]string{}
	u, _ := Credentials([]byte(testSecret), "alice", time.Minute, now)
	refused["wrong password"] = [2]string{u, sign(u + "x")}
	u, _ = Credentials([]byte("other-secret"), "alice", time.Minute, now)
	_, p := Credentials([]byte("other-secret"), "alice", time.Minute, now)
	refused["other secret"] = [2]string{u, p}
	u, p = Credentials([]byte(testSecret), "alice", time.Minute, now.Add(-time.Hour))
	refused["expired"] = [2]string{u, p}
	for _, bad := range []string{"alice", "1999999999", ":alice", "1999999999:", "+1999999999:alice", "abc:alice"} {
		refused["malformed "+bad] = [2]string{bad, sign(bad)} // correctly signed, bad format
	}
	for name, cred := range refused {
		t.Run(name, func(t *testing.T) {
			_, err := udpClient(t, s, cred[0], cred[1]).Allocate()
			if code := turnCode(err); code != stun.CodeUnauthorized {
				t.Fatalf("Allocate err = %v (code %d), want 401", err, code)
			}
		})
	}
	if n := s.Allocations(); n > 1 {
		t.Fatalf("Allocations() = %d after refusals", n)
	}
}

// TestCredentialsMatchPion checks Credentials against pion's independent
// TURN REST handler (same scheme as coturn use-auth-secret).
func TestCredentialsMatchPion(t *testing.T) {
	u, p := Credentials([]byte(testSecret), "bob", time.Hour, time.Now())
	h := pionturn.LongTermTURNRESTAuthHandler(testSecret, nil)
	userID, key, ok := h(&pionturn.RequestAttributes{Username: u, Realm: "r"})
	if !ok || userID != "bob" || !bytes.Equal(key, pionturn.GenerateAuthKey(u, "r", p)) {
		t.Fatalf("pion handler: ok=%v user=%q; key mismatch for %q/%q", ok, userID, u, p)
	}
	u, _ = Credentials([]byte("k"), "x:y", 90*time.Second, time.Unix(1000, 0))
	if u != "1090:x:y" {
		t.Fatalf("username %q", u)
	}
}

func TestRelayToOwnAddress(t *testing.T) {
	sfu := peer(t)
	var deltas atomic.Int64
	s := startServer(t, func(c *Config) {
		c.OwnAddrs = ownAddrs(sfu)
		c.OnAllocation = func(d int) { deltas.Add(int64(d)) }
	})
	u, p := Credentials([]byte(testSecret), "alice", time.Minute, time.Now())
	relay := allocate(t, udpClient(t, s, u, p))
	if s.Allocations() != 1 || deltas.Load() != 1 {
		t.Fatalf("Allocations()=%d deltas=%d, want 1", s.Allocations(), deltas.Load())
	}
	// Several rounds: the first go as Send indications, later ones over the
	// channel the client binds in the background.
	for _, m := range []string{"a", "b", "c", "d"} {
		roundTrip(t, relay, sfu, m)
	}
}

func TestRelayRefusesOtherPorts(t *testing.T) {
	sfu, other := peer(t), peer(t)
	s := startServer(t, func(c *Config) { c.OwnAddrs = ownAddrs(sfu) })
	u, p := Credentials([]byte(testSecret), "mallory", time.Minute, time.Now())
	c := udpClient(t, s, u, p)
	relay := allocate(t, c)

	t.Run("outbound", func(t *testing.T) {
		// The permission for 127.0.0.1 is granted (the SFU's IP), so the
		// client's WriteTo succeeds, but the server must drop the packet.
		for range 3 {
			if _, err := relay.WriteTo([]byte("probe"), other.LocalAddr()); err != nil {
				t.Fatalf("WriteTo: %v", err)
			}
			roundTrip(t, relay, sfu, "marker")
		}
		// The server handles one client packet at a time and loopback
		// delivery is synchronous: had a probe been relayed, it would be
		// queued on `other` before the marker reached the SFU.
		if got, from, err := readWithin(other, 50*time.Millisecond); err == nil {
			t.Fatalf("refused peer received %q from %v", got, from)
		}
	})

	t.Run("inbound", func(t *testing.T) {
		// A local service on another port must not reach the client either.
		if _, err := other.WriteTo([]byte("spoof"), relay.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		if _, err := sfu.WriteTo([]byte("real"), relay.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		got, from, err := readWithin(relay, 2*time.Second)
		if err != nil || string(got) != "real" || from.String() != sfu.LocalAddr().String() {
			t.Fatalf("client got %q from %v (%v), want only the SFU's packet", got, from, err)
		}
	})

	t.Run("permission", func(t *testing.T) {
		// A refused CreatePermission sends nothing to the peer.
		for _, ip := range []string{"10.0.0.1", "192.168.1.1", "127.0.0.2", "169.254.169.254", "100.64.0.1"} {
			err := c.CreatePermission(&net.UDPAddr{IP: net.ParseIP(ip), Port: 5000})
			if code := turnCode(err); code != stun.CodeForbidden {
				t.Errorf("CreatePermission(%s) err = %v, want 403", ip, err)
			}
		}
		if err := c.CreatePermission(sfu.LocalAddr()); err != nil {
			t.Errorf("CreatePermission(own IP) = %v", err)
		}
	})
}

// TestAllowedPeersOpensLoopback: "refused unless configured otherwise".
func TestAllowedPeersOpensLoopback(t *testing.T) {
	p1 := peer(t)
	s := startServer(t, func(c *Config) {
		c.AllowedPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	u, p := Credentials([]byte(testSecret), "dev", time.Minute, time.Now())
	roundTrip(t, allocate(t, udpClient(t, s, u, p)), p1, "hi")
	// Even then, the TURN port itself is never a peer.
	if s.peerAllowed(s.UDPAddr().(*net.UDPAddr).AddrPort()) {
		t.Fatal("relaying to the server's own TURN port must be refused")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestQuota(t *testing.T) {
	var deltas atomic.Int64
	s := startServer(t, func(c *Config) {
		c.UserQuota = 2
		c.OnAllocation = func(d int) { deltas.Add(int64(d)) }
	})
	cred := func(user string) (string, string) {
		return Credentials([]byte(testSecret), user, time.Minute, time.Now())
	}
	u, p := cred("bob")
	first := allocate(t, udpClient(t, s, u, p))
	allocate(t, udpClient(t, s, u, p))
	// A fresh credential for the same user counts against the same quota.
	u2, p2 := cred("bob")
	if _, err := udpClient(t, s, u2, p2).Allocate(); turnCode(err) != stun.CodeAllocQuotaReached {
		t.Fatalf("third allocation err = %v, want 486", err)
	}
	cu, cp := cred("carol")
	allocate(t, udpClient(t, s, cu, cp)) // other users are unaffected
	if n := s.userAllocations("bob"); n != 2 {
		t.Fatalf("bob holds %d, want 2", n)
	}

	if err := first.Close(); err != nil { // Refresh(lifetime 0)
		t.Fatal(err)
	}
	waitFor(t, "deallocation", func() bool { return s.userAllocations("bob") == 1 && s.Allocations() == 2 })
	allocate(t, udpClient(t, s, u2, p2))
	if s.Allocations() != 3 || deltas.Load() != 3 {
		t.Fatalf("Allocations()=%d deltas=%d, want 3", s.Allocations(), deltas.Load())
	}

	// Close releases everything synchronously.
	s.Close()
	if n := s.userAllocations("bob") + s.userAllocations("carol"); n != 0 {
		t.Fatalf("%d quota slots held after Close", n)
	}
	waitFor(t, "allocations to drain", func() bool { return s.Allocations() == 0 && deltas.Load() == 0 })
}

func TestTCPTransport(t *testing.T) {
	sfu := peer(t)
	s := startServer(t, func(c *Config) { c.OwnAddrs = ownAddrs(sfu) })
	tc, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	u, p := Credentials([]byte(testSecret), "tcp-user", time.Minute, time.Now())
	relay := allocate(t, newClient(t, s.TCPAddr(), pionturn.NewSTUNConn(tc), u, p))
	roundTrip(t, relay, sfu, "over tcp")

	// Closing the server ends the client's TCP connection too.
	s.Close()
	tc.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		if _, err := tc.Read(make([]byte, 64)); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("server Close left the TCP connection open")
			}
			break
		}
	}
}

func TestTLSTransport(t *testing.T) {
	sfu := peer(t)
	cert, pool := selfSigned(t)
	s := startServer(t, func(c *Config) {
		c.UDPAddr, c.TCPAddr = "", ""
		c.TLSAddr = "127.0.0.1:0"
		c.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		c.OwnAddrs = ownAddrs(sfu)
	})
	if s.UDPAddr() != nil || s.TCPAddr() != nil {
		t.Fatal("disabled transports must report nil addresses")
	}
	tc, err := tls.Dial("tcp", s.TLSAddr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	u, p := Credentials([]byte(testSecret), "tls-user", time.Minute, time.Now())
	roundTrip(t, allocate(t, newClient(t, s.TLSAddr(), pionturn.NewSTUNConn(tc), u, p)), sfu, "over tls")
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestConfigErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no secret":       {UDPAddr: "127.0.0.1:0"},
		"no transport":    {Secret: []byte("x")},
		"tls without cfg": {Secret: []byte("x"), TLSAddr: "127.0.0.1:0"},
		"bad port range":  {Secret: []byte("x"), UDPAddr: "127.0.0.1:0", RelayPortMin: 5000, RelayPortMax: 4000},
		"no public ip":    {Secret: []byte("x"), UDPAddr: "0.0.0.0:0"},
	} {
		if s, err := New(cfg); err == nil {
			s.Close()
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestRelayPortRange(t *testing.T) {
	// Find two free adjacent-ish ports by asking the OS, then close them.
	probe := peer(t)
	port := int(addrPort(probe).Port())
	probe.Close()
	sfu := peer(t)
	s := startServer(t, func(c *Config) {
		c.RelayPortMin, c.RelayPortMax = port, port
		c.OwnAddrs = ownAddrs(sfu)
	})
	u, p := Credentials([]byte(testSecret), "ranged", time.Minute, time.Now())
	relay := allocate(t, udpClient(t, s, u, p))
	if got := relay.LocalAddr().(*net.UDPAddr).Port; got != port {
		t.Fatalf("relay port %d, want %d", got, port)
	}
	// The only port is taken: the next allocation fails cleanly (508) and
	// does not leak a quota slot.
	if _, err := udpClient(t, s, u, p).Allocate(); turnCode(err) != stun.CodeInsufficientCapacity {
		t.Fatalf("second allocation err = %v, want 508", err)
	}
	if n := s.userAllocations("ranged"); n != 1 {
		t.Fatalf("quota count %d, want 1", n)
	}
}
