package sip

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"switchboard/internal/store"
)

var _ Accounts = (*store.Store)(nil)

func TestRegisterDigest(t *testing.T) {
	for _, alg := range []string{AlgSHA256, AlgMD5} {
		t.Run(alg, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.DigestAlgorithms = []string{AlgSHA256, AlgMD5} })
			p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
			uri := "sip:" + testRealm
			p.send(p.request("REGISTER", uri, p.contact(), "Expires: 300"))
			res := p.expect(401)
			// RFC 8760: one challenge per algorithm, most preferred first.
			chals := res.GetHeaders("WWW-Authenticate")
			if len(chals) != 2 || !strings.Contains(chals[0].Value(), "algorithm=SHA-256") ||
				!strings.Contains(chals[1].Value(), "algorithm=MD5") || !strings.Contains(chals[0].Value(), `qop="auth"`) {
				t.Fatalf("challenges: %v", chals)
			}
			auth := answer(t, res, alg, "alice", "secret", "REGISTER", uri)
			p.send(p.request("REGISTER", uri, p.contact(), "Expires: 300", auth))
			ok := p.expect(200)
			if c := ok.GetHeader("Contact"); c == nil || !strings.Contains(c.Value(), "expires=300") {
				t.Fatalf("200 without the binding: %s", ok)
			}
			bs := h.s.Bindings("alice")
			if len(bs) != 1 || bs[0].Source != p.local() || bs[0].Transport != "UDP" || bs[0].UserAgent != "test-phone" ||
				!bs[0].Expires.Equal(h.clock.now().Add(300*time.Second)) {
				t.Fatalf("bindings: %+v", bs)
			}
			if h.m.Registrations.Load() != 1 || h.m.Challenges.Load() != 1 || h.m.AuthFailures.Load() != 0 {
				t.Fatalf("metrics: reg %d chal %d fail %d", h.m.Registrations.Load(), h.m.Challenges.Load(), h.m.AuthFailures.Load())
			}
			if h.s.BindingCount() != 1 {
				t.Fatalf("binding count %d", h.s.BindingCount())
			}
		})
	}
}

func TestRegisterMD5Only(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.DigestAlgorithms = []string{AlgMD5} })
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	uri := "sip:" + testRealm
	p.send(p.request("REGISTER", uri, p.contact()))
	res := p.expect(401)
	if n := len(res.GetHeaders("WWW-Authenticate")); n != 1 {
		t.Fatalf("%d challenges", n)
	}
	// An answer with an algorithm that was not offered is refused.
	sha := strings.Replace(answer(t, res, "", "alice", "secret", "REGISTER", uri), "algorithm=MD5", "algorithm=SHA-256", 1)
	p.send(p.request("REGISTER", uri, p.contact(), sha))
	p.expect(401)
	if r := p.register("secret", AlgMD5, p.contact()); r.StatusCode != 200 {
		t.Fatalf("MD5 register: %d", r.StatusCode)
	}
	// Default expiry applies when the phone asks for none.
	if bs := h.s.Bindings("alice"); len(bs) != 1 || !bs[0].Expires.Equal(h.clock.now().Add(10*time.Minute)) {
		t.Fatalf("bindings: %+v", bs)
	}
}

func TestRegisterRefusals(t *testing.T) {
	h := newHarness(t, nil)
	addr := h.s.Addrs().UDP.String()
	uri := "sip:" + testRealm

	// Wrong password, unknown account and disabled account all look the same.
	for _, c := range []struct{ user, pw string }{{"alice", "wrong"}, {"mallory", "x"}, {"carol", "pw"}} {
		p := dialPhone(t, "udp", addr, c.user)
		if r := p.register(c.pw, "", p.contact()); r.StatusCode != 403 {
			t.Fatalf("%s: %d", c.user, r.StatusCode)
		}
	}
	// Registering someone else's address with one's own credentials.
	p := dialPhone(t, "udp", addr, "alice")
	p.send(strings.Replace(p.request("REGISTER", uri, p.contact()), "To: <sip:alice@", "To: <sip:bob@", 1))
	res := p.expect(401)
	auth := answer(t, res, "", "alice", "secret", "REGISTER", uri)
	p.send(strings.Replace(p.request("REGISTER", uri, p.contact(), auth), "To: <sip:alice@", "To: <sip:bob@", 1))
	p.expect(403)
	if len(h.s.Bindings("bob")) != 0 {
		t.Fatal("bob was registered by alice")
	}
	// A nonce we did not make.
	forged := strings.Replace(answer(t, res, "", "alice", "secret", "REGISTER", uri), `nonce="`, `nonce="AAAA`, 1)
	p.send(p.request("REGISTER", uri, p.contact(), forged))
	p.expect(403)
	// A digest for another Request-URI.
	other := answer(t, res, "", "alice", "secret", "REGISTER", "sip:elsewhere.example")
	p.send(p.request("REGISTER", uri, p.contact(), other))
	p.expect(403)
	// Garbage credentials.
	p.send(p.request("REGISTER", uri, p.contact(), `Authorization: Digest username="alice", nonce=`))
	p.expect(400)
	// An extension we do not support.
	p.send(p.request("REGISTER", uri, p.contact(), "Require: gruu"))
	if r := p.expect(420); r.GetHeader("Unsupported") == nil || r.GetHeader("Unsupported").Value() != "gruu" {
		t.Fatalf("420 without Unsupported: %s", r)
	}
	if got := h.m.AuthFailures.Load(); got != 6 {
		t.Fatalf("auth failures %d, want 6", got)
	}
	if len(h.s.Bindings("alice")) != 0 {
		t.Fatal("refused registrations left bindings")
	}
	// No secret reaches the logs: neither passwords nor digest responses.
	logs := h.logs.String()
	for _, secret := range []string{"secret", "hunter2", "response=", "Authorization"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("logs contain %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, "authentication failed") || !strings.Contains(logs, "reason=\"wrong password\"") {
		t.Fatalf("failures not logged:\n%s", logs)
	}
}

func TestStaleNonceAndReplay(t *testing.T) {
	h := newHarness(t, nil)
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	uri := "sip:" + testRealm
	p.send(p.request("REGISTER", uri, p.contact()))
	res := p.expect(401)
	auth := answer(t, res, "", "alice", "secret", "REGISTER", uri)

	// Too late: a new challenge marked stale, and no failure counted.
	h.clock.advance(5*time.Minute + time.Second)
	p.send(p.request("REGISTER", uri, p.contact(), auth))
	stale := p.expect(401)
	if !strings.Contains(stale.GetHeader("WWW-Authenticate").Value(), "stale=true") {
		t.Fatalf("not stale: %s", stale)
	}
	auth = answer(t, stale, "", "alice", "secret", "REGISTER", uri)
	p.send(p.request("REGISTER", uri, p.contact(), auth))
	p.expect(200)
	// The same credentials again (a replay, with another Contact) get a new
	// challenge, not a binding.
	p.send(p.request("REGISTER", uri, "Contact: <sip:evil@127.0.0.1:9>", auth))
	p.expect(401)
	if bs := h.s.Bindings("alice"); len(bs) != 1 || strings.Contains(bs[0].Contact, "evil") {
		t.Fatalf("bindings after replay: %+v", bs)
	}
	if h.m.AuthFailures.Load() != 0 {
		t.Fatalf("failures: %d", h.m.AuthFailures.Load())
	}
}

func TestFailuresBlockSource(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AuthFailuresPerIP = 3; c.BlockTime = time.Minute })
	addr := h.s.Addrs().UDP.String()
	p := dialPhone(t, "udp", addr, "alice")
	for range 3 {
		if r := p.register("wrong", "", p.contact()); r.StatusCode != 403 {
			t.Fatalf("wrong password: %d", r.StatusCode)
		}
	}
	// The fourth failure blocks the source: no answer, now or later, even
	// with the right password, over UDP or TCP.
	uri := "sip:" + testRealm
	p.send(p.request("REGISTER", uri, p.contact()))
	res := p.expect(401)
	p.send(p.request("REGISTER", uri, p.contact(), answer(t, res, "", "alice", "wrong", "REGISTER", uri)))
	p.silence(300 * time.Millisecond)
	if !h.s.Blocked(netip.MustParseAddr("127.0.0.1")) || h.m.SourcesBlocked.Load() != 1 {
		t.Fatal("source not blocked")
	}
	p.send(p.request("OPTIONS", uri))
	p.silence(300 * time.Millisecond)
	tcp := dialPhone(t, "tcp", h.s.Addrs().TCP.String(), "alice")
	tcp.send(tcp.request("OPTIONS", uri))
	tcp.silence(300 * time.Millisecond)
	if !strings.Contains(h.logs.String(), "source blocked") {
		t.Fatal("block not logged")
	}

	// The block ends after BlockTime.
	h.clock.advance(time.Minute + time.Second)
	if r := p.register("secret", "", p.contact()); r.StatusCode != 200 {
		t.Fatalf("after the block: %d", r.StatusCode)
	}
}

func TestFailuresLockUsername(t *testing.T) {
	// Failures for one name from "many places" (the guard is fed directly:
	// tests use 127.0.0.1 only) lock the name, even for the right password.
	h := newHarness(t, func(c *Config) { c.AuthFailuresPerUser = 4 })
	for i := range 5 {
		ip := netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}) // documentation addresses, never contacted
		h.s.guard.authFailed(ip, "alice", h.clock.now())
	}
	if h.m.UsersLocked.Load() != 1 {
		t.Fatal("username not locked")
	}
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	if r := p.register("secret", "", p.contact()); r.StatusCode != 403 {
		t.Fatalf("locked username: %d", r.StatusCode)
	}
	// Another account is unaffected, from the same source.
	b := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "bob")
	if r := b.register("hunter2", "", b.contact()); r.StatusCode != 200 {
		t.Fatalf("bob: %d", r.StatusCode)
	}
	h.clock.advance(5*time.Minute + time.Second)
	if r := p.register("secret", "", p.contact()); r.StatusCode != 200 {
		t.Fatalf("after the lock: %d", r.StatusCode)
	}
}

func TestExpiresAndUnregister(t *testing.T) {
	h := newHarness(t, nil)
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")

	// Too brief: 423 with Min-Expires.
	r := p.register("secret", "", p.contact(), "Expires: 30")
	if r.StatusCode != 423 || r.GetHeader("Min-Expires") == nil || r.GetHeader("Min-Expires").Value() != "60" {
		t.Fatalf("too brief: %s", r)
	}
	// Too long is cut to MaxExpires.
	if r := p.register("secret", "", p.contact(), "Expires: 86400"); r.StatusCode != 200 ||
		!strings.Contains(r.GetHeader("Contact").Value(), "expires=3600") {
		t.Fatalf("too long: %s", r)
	}
	// A second contact with its own expires parameter.
	second := "Contact: <sip:alice@127.0.0.1:5999>;expires=120"
	if r := p.register("secret", "", second); r.StatusCode != 200 || len(r.GetHeaders("Contact")) != 2 {
		t.Fatalf("second contact: %s", r)
	}
	// Bindings expire.
	h.clock.advance(121 * time.Second)
	if bs := h.s.Bindings("alice"); len(bs) != 1 || strings.Contains(bs[0].Contact, "5999") {
		t.Fatalf("after 121 s: %+v", bs)
	}
	// A query (no Contact) lists them without changing anything.
	if r := p.register("secret", ""); r.StatusCode != 200 || len(r.GetHeaders("Contact")) != 1 {
		t.Fatalf("query: %s", r)
	}
	// Expires: 0 removes one contact.
	if r := p.register("secret", "", p.contact(), "Expires: 0"); r.StatusCode != 200 || r.GetHeader("Contact") != nil {
		t.Fatalf("unregister: %s", r)
	}
	if len(h.s.Bindings("alice")) != 0 {
		t.Fatal("binding left after Expires: 0")
	}
	// Contact: * removes all, and only with Expires: 0.
	p.register("secret", "", p.contact())
	p.register("secret", "", second)
	if r := p.register("secret", "", "Contact: *"); r.StatusCode != 400 {
		t.Fatalf("* without Expires: 0: %d", r.StatusCode)
	}
	if r := p.register("secret", "", "Contact: *", "Expires: 0"); r.StatusCode != 200 {
		t.Fatalf("*: %d", r.StatusCode)
	}
	if len(h.s.Bindings("alice")) != 0 {
		t.Fatal("bindings left after *")
	}
	// Limits on bindings per account.
	for i := range 10 {
		c := "Contact: <sip:alice@127.0.0.1:" + string(rune('0'+i)) + "000>"
		if r := p.register("secret", "", c); r.StatusCode != 200 {
			t.Fatalf("binding %d: %d", i, r.StatusCode)
		}
	}
	if r := p.register("secret", "", "Contact: <sip:alice@127.0.0.1:1>"); r.StatusCode != 403 {
		t.Fatalf("eleventh binding: %d", r.StatusCode)
	}
	h.s.Unregister("alice")
	if h.s.BindingCount() != 0 {
		t.Fatal("Unregister left bindings")
	}
}

func TestAccountStoreDown(t *testing.T) {
	h := newHarness(t, nil)
	h.accts.mu.Lock()
	h.accts.err = errors.New("database is down")
	h.accts.mu.Unlock()
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	if r := p.register("secret", "", p.contact()); r.StatusCode != 500 || r.GetHeader("Retry-After") == nil {
		t.Fatalf("store down: %s", r)
	}
	if h.m.AuthFailures.Load() != 0 {
		t.Fatal("an outage counted as a failed authentication")
	}
}

func TestLocationOutOfOrder(t *testing.T) {
	l := newLocation()
	now := time.Unix(1000, 0)
	b := Binding{Username: "a", Contact: "sip:a@127.0.0.1:5000", CallID: "c1", CSeq: 5, Expires: now.Add(time.Minute)}
	if _, r := l.apply(update{username: "a", callID: "c1", cseq: 5, contacts: []Binding{b}, max: 5}, now); r != updated {
		t.Fatal(r)
	}
	old := b
	old.CSeq = 4
	if _, r := l.apply(update{username: "a", callID: "c1", cseq: 4, contacts: []Binding{old}, max: 5}, now); r != outOfOrder {
		t.Fatal("older CSeq applied")
	}
	if _, r := l.apply(update{username: "a", callID: "c1", cseq: 4, wildcard: true}, now); r != outOfOrder {
		t.Fatal("older wildcard applied")
	}
	// The same contact written differently is the same binding.
	if !sameContact("sip:a@127.0.0.1:5000", "sip:a@127.0.0.1:5000;transport=udp") == sameContact("x", "y") {
		t.Log("transport parameter distinguishes contacts")
	}
	if !sameContact("sip:a@EXAMPLE.com", "sip:a@example.com") || sameContact("sip:a@h:1", "sip:a@h:2") {
		t.Fatal("sameContact")
	}
}
