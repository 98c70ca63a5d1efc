package rtc

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/srtp/v3"
)

// sniffConn passes a DTLS endpoint's datagrams through a dtlsKeys, as the media socket does.
type sniffConn struct {
	net.PacketConn
	keys *dtlsKeys
}

func (c sniffConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, a, err := c.PacketConn.ReadFrom(p)
	if err == nil && isDTLS(p[:n]) {
		c.keys.observe(p[:n], a.(*net.UDPAddr).AddrPort(), false)
	}
	return n, a, err
}

func (c sniffConn) WriteTo(p []byte, a net.Addr) (int, error) {
	if isDTLS(p) {
		c.keys.observe(p, a.(*net.UDPAddr).AddrPort(), true)
	}
	return c.PacketConn.WriteTo(p, a)
}

func TestDTLSKeysMatchPion(t *testing.T) {
	for _, suite := range []dtls.CipherSuiteID{
		dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	} {
		for _, profile := range []dtls.SRTPProtectionProfile{
			dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80, dtls.SRTP_AEAD_AES_256_GCM,
		} {
			t.Run(fmt.Sprintf("%x/%d", uint16(suite), profile), func(t *testing.T) {
				testDTLSKeys(t, suite, profile)
			})
		}
	}
}

func testDTLSKeys(t *testing.T, suite dtls.CipherSuiteID, profile dtls.SRTPProtectionProfile) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := selfsign.SelfSign(key)
	if err != nil {
		t.Fatal(err)
	}
	cu, su := listenUDP(t, "127.0.0.1:0"), listenUDP(t, "127.0.0.1:0")
	ckeys, skeys := newDTLSKeys(), newDTLSKeys()
	config := func(keys *dtlsKeys) *dtls.Config {
		return &dtls.Config{
			Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, CipherSuites: []dtls.CipherSuiteID{suite},
			SRTPProtectionProfiles: []dtls.SRTPProtectionProfile{profile}, KeyLogWriter: keys,
			ExtendedMasterSecret: dtls.RequireExtendedMasterSecret,
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		c   *dtls.Conn
		err error
	}
	sch := make(chan result, 1)
	go func() {
		s, err := dtls.Server(sniffConn{su, skeys}, cu.LocalAddr(), config(skeys))
		if err == nil {
			err = s.HandshakeContext(ctx)
		}
		sch <- result{s, err}
	}()
	c, err := dtls.Client(sniffConn{cu, ckeys}, su.LocalAddr(), config(ckeys))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.HandshakeContext(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sr := <-sch
	if sr.err != nil {
		t.Fatal(sr.err)
	}
	defer sr.c.Close()

	check := func(name string, keys *dtlsKeys, conn *dtls.Conn, remote net.Addr, isClient bool) {
		got, exact, ok := keys.take(remote.(*net.UDPAddr).AddrPort())
		if !ok || !exact {
			t.Fatalf("%s: no keys learned (exact %v)", name, exact)
		}
		want := srtp.Config{Profile: srtp.ProtectionProfile(profile)}
		state, _ := conn.ConnectionState()
		if err := want.ExtractSessionKeysFromDTLS(&state, isClient); err != nil {
			t.Fatal(err)
		}
		if got.profile != want.Profile || !bytes.Equal(got.localKey, want.Keys.LocalMasterKey) ||
			!bytes.Equal(got.localSalt, want.Keys.LocalMasterSalt) || !bytes.Equal(got.remoteKey, want.Keys.RemoteMasterKey) ||
			!bytes.Equal(got.remoteSalt, want.Keys.RemoteMasterSalt) {
			t.Fatalf("%s: learned keys differ from pion's", name)
		}
		if len(keys.secrets) != 0 || len(keys.hellos) != 0 {
			t.Fatalf("%s: secrets kept after use", name)
		}
		if _, _, ok := keys.take(remote.(*net.UDPAddr).AddrPort()); ok {
			t.Fatalf("%s: keys taken twice", name)
		}
	}
	check("client", ckeys, c, su.LocalAddr(), true)
	check("server", skeys, sr.c, cu.LocalAddr(), false)
}

func TestDTLSKeysBounded(t *testing.T) {
	k := newDTLSKeys()
	now := time.Unix(1000, 0)
	k.now = func() time.Time { return now }
	hello := func(i int) []byte {
		body := make([]byte, 40)
		body[2], body[3] = byte(i>>8), byte(i)
		return handshakeRecord(1, body)
	}
	for i := range 3 * dtlsTableMax {
		a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 5000)
		k.observe(hello(i), a, false)
		fmt.Fprintf(k, "CLIENT_RANDOM %064x %096x\n", i, i)
	}
	if len(k.hellos) > dtlsTableMax || len(k.secrets) > dtlsTableMax {
		t.Fatalf("tables grew to %d hellos, %d secrets", len(k.hellos), len(k.secrets))
	}
	now = now.Add(dtlsKeyTTL + time.Second)
	k.observe(hello(1), netip.MustParseAddrPort("10.1.0.1:1"), false)
	fmt.Fprintf(k, "CLIENT_RANDOM %064x %096x\n", 1, 1)
	if len(k.hellos) != 1 || len(k.secrets) != 1 {
		t.Fatalf("expired entries kept: %d hellos, %d secrets", len(k.hellos), len(k.secrets))
	}
	// Entries nobody takes expire even when the tables are far from full.
	now = now.Add(2*dtlsKeyTTL + time.Second)
	fmt.Fprintf(k, "CLIENT_RANDOM %064x %096x\n", 2, 2)
	if len(k.hellos) != 0 || len(k.secrets) != 1 {
		t.Fatalf("expired entries kept: %d hellos, %d secrets", len(k.hellos), len(k.secrets))
	}
}

// handshakeRecord wraps one unfragmented handshake message in a plaintext DTLS record.
func handshakeRecord(msgType byte, body []byte) []byte {
	msg := []byte{msgType, 0, byte(len(body) >> 8), byte(len(body)), 0, 0, 0, 0, 0, 0, byte(len(body) >> 8), byte(len(body))}
	msg = append(msg, body...)
	rec := []byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, byte(len(msg) >> 8), byte(len(msg))}
	return append(rec, msg...)
}

// hello returns a ClientHello (1) or ServerHello (2) body with the given random, choosing
// TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 and SRTP_AEAD_AES_128_GCM.
func hello(msgType byte, random byte) []byte {
	body := append([]byte{0xfe, 0xfd}, bytes.Repeat([]byte{random}, 32)...)
	if msgType == 2 {
		body = append(body, 0, 0xc0, 0x2b, 0, 0, 9, 0, 14, 0, 5, 0, 2, 0, 7, 0)
	} else {
		body = append(body, 0, 0)
	}
	return handshakeRecord(msgType, body)
}

// When ICE moves to another pair during the handshake, the ServerHello travels by another address
// than the ClientHello: the keys are still found among the connection's addresses, flagged as not
// exact, and equal to those of the same handshake seen on one address. Two different handshakes
// on a connection's addresses are refused rather than guessed between.
func TestDTLSKeysAcrossAddresses(t *testing.T) {
	a, b, c := netip.MustParseAddrPort("192.0.2.1:4000"), netip.MustParseAddrPort("127.0.0.1:5000"), netip.MustParseAddrPort("192.0.2.9:1")
	secret := bytes.Repeat([]byte{7}, 48)
	learn := func(chAt, shAt netip.AddrPort) *dtlsKeys {
		k := newDTLSKeys()
		k.observe(hello(1, 1), chAt, true)
		k.observe(hello(2, 2), shAt, false)
		fmt.Fprintf(k, "CLIENT_RANDOM %x %x\n", bytes.Repeat([]byte{1}, 32), secret)
		return k
	}
	want, exact, ok := learn(a, a).take(a)
	if !ok || !exact {
		t.Fatalf("one address: ok %v exact %v", ok, exact)
	}
	if _, _, ok := learn(a, b).take(a); ok {
		t.Fatal("keys guessed without the ServerHello's address")
	}
	got, exact, ok := learn(a, b).take(c, b, a)
	if !ok || exact {
		t.Fatalf("across addresses: ok %v exact %v", ok, exact)
	}
	if !bytes.Equal(got.localKey, want.localKey) || !bytes.Equal(got.remoteSalt, want.remoteSalt) || got.profile != want.profile {
		t.Fatal("keys across addresses differ from the same handshake's on one address")
	}
	k := learn(a, b)
	k.observe(hello(1, 3), c, true)
	fmt.Fprintf(k, "CLIENT_RANDOM %x %x\n", bytes.Repeat([]byte{3}, 32), secret)
	if _, _, ok := k.take(a, b, c); ok {
		t.Fatal("two handshakes on one connection's addresses: keys guessed")
	}
	k = learn(a, b)
	k.observe(hello(2, 4), c, false)
	if _, _, ok := k.take(a, b, c); ok {
		t.Fatal("two ServerHellos on one connection's addresses: keys guessed")
	}
}

func FuzzDTLSHello(f *testing.F) {
	sh := make([]byte, 34)
	sh = append(sh, 0, 0xc0, 0x2b, 0, 0, 10, 0, 14, 0, 6, 0, 2, 0, 7, 0, 0)
	f.Add(handshakeRecord(1, make([]byte, 60)), handshakeRecord(2, sh))
	f.Add(append(handshakeRecord(1, make([]byte, 40)), handshakeRecord(2, sh[:40])...), []byte{22, 0xfe, 0xfd})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		k := newDTLSKeys()
		remote := netip.MustParseAddrPort("192.0.2.1:4000")
		k.observe(a, remote, true)
		k.observe(b, remote, false)
		k.Write(a)
		k.Write(b)
		fmt.Fprintf(k, "CLIENT_RANDOM %x %x\n", make([]byte, 32), b)
		k.take(remote)
	})
}

// A flood of ClientHellos (or key log lines) into full tables sweeps them at most once per
// dtlsFullSweep, not once per packet: a sweep costs the tables' size, in the media socket's read
// goroutine. The tables stay bounded.
func TestDTLSKeysFloodSweepsRarely(t *testing.T) {
	k := newDTLSKeys()
	t0 := time.Unix(1000, 0)
	now := t0
	k.now = func() time.Time { return now }
	for i := range dtlsTableMax {
		a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 5000)
		k.observe(hello(1, byte(i)), a, false)
		fmt.Fprintf(k, "CLIENT_RANDOM %064x %096x\n", i, i)
	}
	if !k.swept.Equal(t0) {
		t.Fatalf("swept at %v", k.swept)
	}
	for i := range 500 {
		now = now.Add(time.Millisecond)
		a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{11, 0, byte(i >> 8), byte(i)}), 5000)
		k.observe(hello(1, byte(i)), a, false)
		fmt.Fprintf(k, "CLIENT_RANDOM %064x %096x\n", dtlsTableMax+i, i)
		if !k.swept.Equal(t0) {
			t.Fatalf("hello %d into full tables swept them again after %v", i, k.swept.Sub(t0))
		}
	}
	if len(k.hellos) != dtlsTableMax || len(k.secrets) != dtlsTableMax {
		t.Fatalf("tables at %d hellos, %d secrets", len(k.hellos), len(k.secrets))
	}
	now = now.Add(dtlsFullSweep)
	k.observe(hello(1, 1), netip.MustParseAddrPort("12.0.0.1:1"), false)
	if !k.swept.Equal(now) {
		t.Fatal("full tables not swept after dtlsFullSweep")
	}
}

// An overwritten master secret is cleared, not left to the garbage collector.
func TestDTLSKeysClearsOverwrittenSecret(t *testing.T) {
	k := newDTLSKeys()
	fmt.Fprintf(k, "CLIENT_RANDOM %064x %096x\n", 1, 0xabc)
	old := k.secrets[[32]byte{31: 1}].master
	fmt.Fprintf(k, "CLIENT_RANDOM %064x %096x\n", 1, 0xdef)
	if !bytes.Equal(old, make([]byte, 48)) {
		t.Fatalf("old master secret not cleared: %x", old)
	}
}

// Once the hello table is full of fresh entries, a ClientHello from a new address costs about what
// it costs in a table that is not full.
func BenchmarkDTLSHelloFlood(b *testing.B) {
	k := newDTLSKeys()
	hello := func(i int) []byte {
		body := make([]byte, 40)
		body[2], body[3], body[4] = byte(i>>16), byte(i>>8), byte(i)
		return handshakeRecord(1, body)
	}
	for i := range dtlsTableMax {
		k.observe(hello(i), netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 5000), false)
	}
	pkts := make([][]byte, 1024)
	for i := range pkts {
		pkts[i] = hello(100000 + i)
	}
	for i := 0; b.Loop(); i++ {
		a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}), 5000)
		k.observe(pkts[i%len(pkts)], a, false)
	}
}

func BenchmarkDTLSHelloNotFull(b *testing.B) {
	k := newDTLSKeys()
	hello := func(i int) []byte {
		body := make([]byte, 40)
		body[2], body[3], body[4] = byte(i>>16), byte(i>>8), byte(i)
		return handshakeRecord(1, body)
	}
	pkts := make([][]byte, 1024)
	for i := range pkts {
		pkts[i] = hello(100000 + i)
	}
	for i := 0; b.Loop(); i++ {
		a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{11, 0, byte(i >> 8), byte(i)}), uint16(i%1000))
		if i%1000 == 0 {
			k = newDTLSKeys()
		}
		k.observe(pkts[i%len(pkts)], a, false)
	}
}

// Only a ServerHello in the right direction counts, and a spoofed hello from the peer's address
// (incoming) changes neither our own handshake nor one we answered.
func TestDTLSKeysDirection(t *testing.T) {
	a, b := netip.MustParseAddrPort("192.0.2.1:4000"), netip.MustParseAddrPort("192.0.2.2:4000")
	type obs struct {
		msg      []byte
		at       netip.AddrPort
		outgoing bool
	}
	learn := func(client byte, seq ...obs) (srtpKeys, bool) {
		k := newDTLSKeys()
		for _, o := range seq {
			k.observe(o.msg, o.at, o.outgoing)
		}
		fmt.Fprintf(k, "CLIENT_RANDOM %x %x\n", bytes.Repeat([]byte{client}, 32), bytes.Repeat([]byte{7}, 48))
		keys, _, ok := k.take(a, b)
		return keys, ok
	}
	same := func(name string, got, want srtpKeys, ok bool) {
		t.Helper()
		if !ok || !bytes.Equal(got.localKey, want.localKey) || !bytes.Equal(got.remoteKey, want.remoteKey) {
			t.Fatalf("%s: ok %v, keys differ from the handshake's", name, ok)
		}
	}
	server, ok := learn(1, obs{hello(1, 1), a, false}, obs{hello(2, 2), a, true})
	if !ok {
		t.Fatal("server side: no keys")
	}
	client, ok := learn(1, obs{hello(1, 1), a, true}, obs{hello(2, 2), a, false})
	if !ok {
		t.Fatal("client side: no keys")
	}

	got, ok := learn(1, obs{hello(1, 1), a, false}, obs{hello(2, 2), a, true}, obs{hello(2, 4), a, false})
	same("we are the server, then an incoming ServerHello", got, server, ok)
	if _, ok := learn(1, obs{hello(1, 1), a, false}, obs{hello(2, 2), a, false}); ok {
		t.Fatal("we are the server: keys from an incoming ServerHello")
	}
	got, ok = learn(1, obs{hello(1, 1), a, false}, obs{hello(2, 2), a, true}, obs{hello(1, 5), a, false})
	same("we are the server, then another incoming ClientHello", got, server, ok)

	got, ok = learn(1, obs{hello(1, 1), a, true}, obs{hello(1, 5), a, false}, obs{hello(2, 2), a, false})
	same("we are the client, then an incoming ClientHello", got, client, ok)
	got, ok = learn(1, obs{hello(1, 1), a, true}, obs{hello(2, 2), a, false}, obs{hello(2, 4), a, false})
	same("we are the client, then a second incoming ServerHello", got, client, ok)
	if _, ok := learn(1, obs{hello(1, 1), a, true}, obs{hello(2, 2), a, true}); ok {
		t.Fatal("we are the client: keys from an outgoing ServerHello")
	}

	// The ServerHello by another address of the connection.
	got, ok = learn(1, obs{hello(1, 1), a, true}, obs{hello(2, 2), b, false}, obs{hello(2, 4), b, false})
	same("across addresses, then a second incoming ServerHello", got, client, ok)
	if _, ok := learn(1, obs{hello(1, 1), a, true}, obs{hello(2, 2), b, true}); ok {
		t.Fatal("across addresses: keys from a ServerHello in the wrong direction")
	}
}
