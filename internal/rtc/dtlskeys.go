package rtc

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/dtls/v3/pkg/crypto/prf"
	"github.com/pion/srtp/v3"
)

// dtlsKeys learns the SRTP keys of the DTLS sessions that run on the media socket, which pion keeps
// to itself. pion/dtls writes each session's master secret to a key log (CLIENT_RANDOM lines, set with
// SettingEngine.SetDTLSKeyLogWriter); the rest of what the RFC 5705 exporter needs (both randoms, the
// cipher suite's hash, the use_srtp profile, our role) travels in plaintext in the ClientHello and
// ServerHello, which observe sniffs from the socket in both directions.
//
// Master secrets stay in memory only, only until take uses them, and both tables are bounded and
// expire: anyone can send ClientHellos to the socket.
type dtlsKeys struct {
	mu      sync.Mutex
	hellos  map[netip.AddrPort]*dtlsHello
	secrets map[[32]byte]dtlsSecret // by client random
	// servers are ServerHellos seen on an address where no ClientHello was: when a connection has
	// several working candidate pairs, ICE may move to another one during the handshake.
	servers map[netip.AddrPort]dtlsServerHello
	swept   time.Time
	now     func() time.Time
}

type dtlsHello struct {
	client, server   [32]byte // randoms
	haveServer       bool
	weAreClient      bool   // we sent the ClientHello
	suite, profileID uint16 // chosen by the ServerHello
	seen             time.Time
}

type dtlsServerHello struct {
	random           [32]byte
	suite, profileID uint16
	outgoing         bool // we sent it: we are the DTLS server
	seen             time.Time
}

type dtlsSecret struct {
	master []byte
	seen   time.Time
}

const (
	dtlsTableMax = 4096             // entries per table
	dtlsKeyTTL   = 30 * time.Second // a handshake finishes well within this
)

func newDTLSKeys() *dtlsKeys {
	return &dtlsKeys{hellos: map[netip.AddrPort]*dtlsHello{}, secrets: map[[32]byte]dtlsSecret{},
		servers: map[netip.AddrPort]dtlsServerHello{}, now: time.Now}
}

// srtpKeys are one session's SRTP master keys and salts, from our side's point of view.
type srtpKeys struct {
	profile               srtp.ProtectionProfile
	localKey, localSalt   []byte
	remoteKey, remoteSalt []byte
}

// clear zeroes the keys once the SRTP contexts (which derive their own session keys) are built.
func (k *srtpKeys) clear() {
	clear(k.localKey)
	clear(k.localSalt)
	clear(k.remoteKey)
	clear(k.remoteSalt)
}

// Write takes pion/dtls's key log: lines "CLIENT_RANDOM <client random> <master secret>" in hex.
// It never fails, so a malformed line cannot break a handshake.
func (k *dtlsKeys) Write(p []byte) (int, error) {
	for line := range bytes.SplitSeq(p, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) != 3 || string(f[0]) != "CLIENT_RANDOM" || hex.DecodedLen(len(f[1])) != 32 {
			continue
		}
		var cr [32]byte
		if _, err := hex.Decode(cr[:], f[1]); err != nil {
			continue
		}
		master := make([]byte, hex.DecodedLen(len(f[2])))
		if _, err := hex.Decode(master, f[2]); err != nil || len(master) == 0 {
			continue
		}
		k.mu.Lock()
		now := k.now()
		k.expireLocked(now)
		if old, ok := k.secrets[cr]; ok {
			clear(old.master)
		} else if len(k.secrets) >= dtlsTableMax {
			k.fullLocked(now)
			for old, s := range k.secrets { // still full: drop one
				if len(k.secrets) < dtlsTableMax {
					break
				}
				clear(s.master)
				delete(k.secrets, old)
			}
		}
		k.secrets[cr] = dtlsSecret{master: master, seen: now}
		k.mu.Unlock()
	}
	return len(p), nil
}

// evictOne drops some entry of a full table (after expired ones are gone): a flood of handshakes
// then degrades connections to the slow path instead of growing memory. Map iteration starts at a
// random place, so this costs about the same whatever the table's size.
func evictOne[K comparable, V any](m map[K]V) {
	for key := range m {
		if len(m) < dtlsTableMax {
			return
		}
		delete(m, key)
	}
}

// expireLocked sweeps now and then, so the secrets of handshakes whose keys nobody takes (connections
// without a fast path) are gone within two TTLs.
func (k *dtlsKeys) expireLocked(now time.Time) {
	if now.Sub(k.swept) > dtlsKeyTTL {
		k.sweepLocked(now)
	}
}

// dtlsFullSweep is how often a full table may be swept for expired entries before one is evicted:
// a sweep costs the size of the tables, and a flood of spoofed ClientHellos must not make every
// datagram of the media socket's read goroutine pay it.
const dtlsFullSweep = time.Second

// fullLocked is called when a table is full: it sweeps, at most once per dtlsFullSweep.
func (k *dtlsKeys) fullLocked(now time.Time) {
	if now.Sub(k.swept) > dtlsFullSweep {
		k.sweepLocked(now)
	}
}

func (k *dtlsKeys) sweepLocked(now time.Time) {
	k.swept = now
	for a, h := range k.hellos {
		if now.Sub(h.seen) > dtlsKeyTTL {
			delete(k.hellos, a)
		}
	}
	for a, s := range k.servers {
		if now.Sub(s.seen) > dtlsKeyTTL {
			delete(k.servers, a)
		}
	}
	for cr, s := range k.secrets {
		if now.Sub(s.seen) > dtlsKeyTTL {
			clear(s.master)
			delete(k.secrets, cr)
		}
	}
}

// isDTLS says whether a datagram is DTLS by its first byte (RFC 7983).
func isDTLS(p []byte) bool { return len(p) > 0 && p[0] >= 20 && p[0] <= 63 }

// observe looks at one DTLS datagram sent to (outgoing) or received from remote, and records the
// ClientHello and ServerHello it carries. Everything else is skipped cheaply; malformed records end
// the scan. The datagram is not modified.
func (k *dtlsKeys) observe(p []byte, remote netip.AddrPort, outgoing bool) {
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	for len(p) >= 13 {
		// Record header: type, version(2), epoch(2), sequence(6), length(2).
		typ, epoch, n := p[0], binary.BigEndian.Uint16(p[3:5]), int(binary.BigEndian.Uint16(p[11:13]))
		if len(p) < 13+n {
			return
		}
		rec := p[13 : 13+n]
		p = p[13+n:]
		if typ != 22 || epoch != 0 { // handshake, still in plaintext
			continue
		}
		// One record may hold several handshake messages (or fragments of them).
		for len(rec) >= 12 {
			msgType := rec[0]
			fragOff := uint32(rec[6])<<16 | uint32(rec[7])<<8 | uint32(rec[8])
			fragLen := int(uint32(rec[9])<<16 | uint32(rec[10])<<8 | uint32(rec[11]))
			if len(rec) < 12+fragLen {
				break
			}
			body := rec[12 : 12+fragLen]
			rec = rec[12+fragLen:]
			if fragOff != 0 {
				continue
			}
			switch msgType {
			case 1:
				k.clientHello(body, remote, outgoing)
			case 2:
				k.serverHello(body, remote, outgoing)
			}
		}
	}
}

func (k *dtlsKeys) clientHello(body []byte, remote netip.AddrPort, outgoing bool) {
	if len(body) < 34 {
		return
	}
	var cr [32]byte
	copy(cr[:], body[2:34])
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	k.expireLocked(now)
	h := k.hellos[remote]
	if h != nil && h.client == cr && h.weAreClient == outgoing {
		h.seen = now // the ClientHello repeated after a HelloVerifyRequest, or retransmitted
		return
	}
	// What we send is pion's and replaces anything. What arrives may be spoofed: it must not replace
	// a handshake in progress, ours (we sent the ClientHello) or theirs that we answered.
	if h != nil && !outgoing && (h.weAreClient || h.haveServer) && now.Sub(h.seen) <= dtlsKeyTTL {
		return
	}
	if h == nil && len(k.hellos) >= dtlsTableMax {
		k.fullLocked(now)
		evictOne(k.hellos)
	}
	k.hellos[remote] = &dtlsHello{client: cr, weAreClient: outgoing, seen: now}
}

// serverHello records a ServerHello. Only one in the right direction counts (outgoing when we are
// the DTLS server, incoming when we are the client). An incoming one, which may be spoofed, does not
// replace one already recorded: the first is the one pion's handshake most likely used, and a
// wrong one only keeps the connection on pion (its keys never decrypt anything).
func (k *dtlsKeys) serverHello(body []byte, remote netip.AddrPort, outgoing bool) {
	// server_version(2) random(32) session_id<0..32> cipher_suite(2) compression(1) extensions<..>
	if len(body) < 35 {
		return
	}
	var sr [32]byte
	copy(sr[:], body[2:34])
	rest := body[34:]
	sid := int(rest[0])
	if len(rest) < 1+sid+3 {
		return
	}
	rest = rest[1+sid:]
	suite := binary.BigEndian.Uint16(rest)
	rest = rest[3:]
	var profile uint16
	if len(rest) >= 2 {
		extLen := int(binary.BigEndian.Uint16(rest))
		exts := rest[2:]
		if extLen < len(exts) {
			exts = exts[:extLen]
		}
		for len(exts) >= 4 {
			typ, n := binary.BigEndian.Uint16(exts), int(binary.BigEndian.Uint16(exts[2:]))
			if len(exts) < 4+n {
				break
			}
			data := exts[4 : 4+n]
			exts = exts[4+n:]
			// use_srtp: profiles<2..2^16-1> (the server picks one), mki<0..255>.
			if typ == 14 && len(data) >= 4 && binary.BigEndian.Uint16(data) >= 2 {
				profile = binary.BigEndian.Uint16(data[2:])
			}
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	h := k.hellos[remote]
	if h == nil {
		// The ClientHello went by another address of the connection (take matches them up and
		// checks the direction).
		k.expireLocked(now)
		old, ok := k.servers[remote]
		if ok && !outgoing && now.Sub(old.seen) <= dtlsKeyTTL {
			return
		}
		if !ok && len(k.servers) >= dtlsTableMax {
			k.fullLocked(now)
			evictOne(k.servers)
		}
		k.servers[remote] = dtlsServerHello{random: sr, suite: suite, profileID: profile, outgoing: outgoing, seen: now}
		return
	}
	if outgoing == h.weAreClient || (h.haveServer && !outgoing) {
		return
	}
	h.server, h.haveServer, h.suite, h.profileID, h.seen = sr, true, suite, profile, now
}

// take returns the SRTP keys of the handshake of the connection whose remote addresses are remotes
// and forgets its secrets. exact says the ClientHello and ServerHello went by one address; otherwise
// the caller should see the keys decrypt something before it trusts them.
func (k *dtlsKeys) take(remotes ...netip.AddrPort) (keys srtpKeys, exact, ok bool) {
	k.mu.Lock()
	// The handshake is the one ClientHello on the connection's addresses whose master secret pion
	// logged; its ServerHello travelled by the same address or, if ICE moved meanwhile, by another
	// of them. Anything ambiguous is refused: the connection stays on pion.
	var hello dtlsHello
	found := false
	for i, r := range remotes {
		r = netip.AddrPortFrom(r.Addr().Unmap(), r.Port())
		remotes[i] = r
		h := k.hellos[r]
		if h == nil {
			continue
		}
		if _, ok := k.secrets[h.client]; !ok {
			continue
		}
		if found && h.client != hello.client {
			k.mu.Unlock()
			return srtpKeys{}, false, false
		}
		if !found || (!hello.haveServer && h.haveServer) {
			hello, found = *h, true
		}
	}
	exact = hello.haveServer
	if found && !exact {
		for _, r := range remotes {
			s, ok := k.servers[r]
			if !ok || s.outgoing == hello.weAreClient {
				continue
			}
			if hello.haveServer && s.random != hello.server {
				k.mu.Unlock()
				return srtpKeys{}, false, false
			}
			hello.server, hello.haveServer, hello.suite, hello.profileID = s.random, true, s.suite, s.profileID
		}
	}
	if !found || !hello.haveServer {
		k.mu.Unlock()
		return srtpKeys{}, false, false
	}
	s := k.secrets[hello.client]
	delete(k.secrets, hello.client)
	for _, r := range remotes {
		if h := k.hellos[r]; h != nil && h.client == hello.client {
			delete(k.hellos, r)
		}
		if sh, ok := k.servers[r]; ok && sh.random == hello.server {
			delete(k.servers, r)
		}
	}
	k.mu.Unlock()
	defer clear(s.master)
	keys, ok = deriveSRTPKeys(s.master, &hello)
	return keys, exact, ok
}

// profileFor maps a use_srtp profile id (IANA, as pion numbers them) to pion/srtp's.
func profileFor(id uint16) (srtp.ProtectionProfile, bool) {
	p := srtp.ProtectionProfile(id)
	switch p {
	case srtp.ProtectionProfileAes128CmHmacSha1_80, srtp.ProtectionProfileAes128CmHmacSha1_32,
		srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAeadAes256Gcm:
		return p, true
	}
	return 0, false
}

// prfHash is the hash of a TLS 1.2 cipher suite's PRF: SHA-384 for the *_SHA384 suites pion has,
// SHA-256 for all others.
func prfHash(suite uint16) func() hash.Hash {
	switch suite {
	case 0xc02c, 0xc030: // TLS_ECDHE_{ECDSA,RSA}_WITH_AES_256_GCM_SHA384
		return sha512.New384
	}
	return sha256.New
}

// exporter is the RFC 5705 keying material exporter of a TLS 1.2 session (without context).
type exporter struct {
	master, seed []byte // seed: client random || server random
	hash         func() hash.Hash
}

func (e exporter) ExportKeyingMaterial(label string, _ []byte, length int) ([]byte, error) {
	return prf.PHash(e.master, append([]byte(label), e.seed...), length, e.hash)
}

func deriveSRTPKeys(master []byte, h *dtlsHello) (srtpKeys, bool) {
	profile, ok := profileFor(h.profileID)
	if !ok {
		return srtpKeys{}, false
	}
	cfg := srtp.Config{Profile: profile}
	seed := append(append(make([]byte, 0, 64), h.client[:]...), h.server[:]...)
	if err := cfg.ExtractSessionKeysFromDTLS(exporter{master: master, seed: seed, hash: prfHash(h.suite)}, h.weAreClient); err != nil {
		return srtpKeys{}, false
	}
	return srtpKeys{
		profile:  profile,
		localKey: cfg.Keys.LocalMasterKey, localSalt: cfg.Keys.LocalMasterSalt,
		remoteKey: cfg.Keys.RemoteMasterKey, remoteSalt: cfg.Keys.RemoteMasterSalt,
	}, true
}
