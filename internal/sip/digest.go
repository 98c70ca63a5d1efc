package sip

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/icholy/digest"
)

// Digest authentication (RFC 3261 section 22, RFC 8760 for SHA-256), server
// side. sipgo brings github.com/icholy/digest for its client; we use its
// header parser and compute the server's side ourselves, because the
// library's helpers start from the password and we only have HA1.

// HashPassword returns the HA1 hashes of a SIP account, hex, as stored in
// store.SIPAccount: H(username ":" realm ":" password) with MD5 and SHA-256.
func HashPassword(username, realm, password string) (ha1MD5, ha1SHA256 string) {
	return hashHex(md5.New(), username, realm, password), hashHex(sha256.New(), username, realm, password)
}

func hashHex(h hash.Hash, parts ...string) string {
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{':'})
		}
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func newHash(alg string) hash.Hash {
	if alg == AlgSHA256 {
		return sha256.New()
	}
	return md5.New()
}

// nonce layout, before base64url: 8 bytes of Unix time in milliseconds, 8
// random bytes, then the first 16 bytes of HMAC-SHA256(key, time || random ||
// source address || realm). Binding the nonce to the source address means a
// challenge sniffed from one network cannot be answered from another; the
// random part makes every challenge's nonce new, so the replay cache never
// mistakes two challenges in one millisecond for one.
const (
	nonceTimeLen = 8
	nonceSaltLen = 8
	nonceMACLen  = 16
	nonceLen     = nonceTimeLen + nonceSaltLen + nonceMACLen
)

type nonceState int

const (
	nonceBad   nonceState = iota // not ours, or tampered with
	nonceStale                   // ours, but too old (or from before a key change)
	nonceOK
)

type nonces struct {
	key      []byte
	realm    string
	lifetime time.Duration
}

func (n *nonces) mac(ms uint64, salt []byte, ip netip.Addr) []byte {
	m := hmac.New(sha256.New, n.key)
	var t [nonceTimeLen]byte
	binary.BigEndian.PutUint64(t[:], ms)
	m.Write(t[:])
	m.Write(salt)
	ipb := ip.Unmap().AsSlice()
	m.Write([]byte{byte(len(ipb))})
	m.Write(ipb)
	m.Write([]byte(n.realm))
	return m.Sum(nil)[:nonceMACLen]
}

// make returns a fresh nonce for a challenge to ip.
func (n *nonces) make(ip netip.Addr, now time.Time) string {
	var b [nonceLen]byte
	ms := uint64(now.UnixMilli())
	binary.BigEndian.PutUint64(b[:], ms)
	salt := b[nonceTimeLen : nonceTimeLen+nonceSaltLen]
	rand.Read(salt)
	copy(b[nonceTimeLen+nonceSaltLen:], n.mac(ms, salt, ip))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// check tells whether nonce was made by us for ip and is still fresh.
func (n *nonces) check(nonce string, ip netip.Addr, now time.Time) nonceState {
	if len(nonce) != base64.RawURLEncoding.EncodedLen(nonceLen) {
		return nonceBad
	}
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != nonceLen {
		return nonceBad
	}
	ms := binary.BigEndian.Uint64(b)
	salt := b[nonceTimeLen : nonceTimeLen+nonceSaltLen]
	if !hmac.Equal(b[nonceTimeLen+nonceSaltLen:], n.mac(ms, salt, ip)) {
		return nonceBad
	}
	age := now.Sub(time.UnixMilli(int64(ms)))
	// A nonce from the future means a clock step back; treat it as stale
	// rather than as an attack, and the client retries with a new one.
	if age > n.lifetime || age < -time.Minute {
		return nonceStale
	}
	return nonceOK
}

// challenge is the value of a WWW-Authenticate header.
func challenge(realm, nonce, alg string, stale bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, `Digest realm="%s", nonce="%s", algorithm=%s, qop="auth"`, realm, nonce, alg)
	if stale {
		b.WriteString(", stale=true")
	}
	return b.String()
}

// Limits on credential fields; real clients stay far below them.
const (
	maxAuthHeader = 2048
	maxAuthField  = 512
)

var errBadCredentials = errors.New("malformed digest credentials")

// parseCredentials parses an Authorization header value and checks that the
// fields a digest needs are there and sane. It never returns secrets in its
// errors.
func parseCredentials(v string) (*digest.Credentials, error) {
	if len(v) > maxAuthHeader {
		return nil, errBadCredentials
	}
	c, err := digest.ParseCredentials(v)
	if err != nil {
		return nil, errBadCredentials
	}
	if c.Username == "" || c.Nonce == "" || c.URI == "" || c.Response == "" || c.Userhash {
		return nil, errBadCredentials
	}
	for _, f := range []string{c.Username, c.Realm, c.Nonce, c.URI, c.Response, c.Algorithm, c.Cnonce, c.Opaque, c.QOP} {
		if len(f) > maxAuthField || strings.ContainsAny(f, "\x00\r\n") {
			return nil, errBadCredentials
		}
	}
	switch c.QOP {
	case "":
	case "auth":
		if c.Cnonce == "" || c.Nc <= 0 {
			return nil, errBadCredentials
		}
	default: // auth-int would need the body hashed; we never offer it
		return nil, errBadCredentials
	}
	return c, nil
}

// credentialAlg maps the algorithm of credentials to ours; "" means MD5.
func credentialAlg(c *digest.Credentials) string {
	switch strings.ToUpper(c.Algorithm) {
	case "", "MD5":
		return AlgMD5
	case "SHA-256":
		return AlgSHA256
	}
	return ""
}

// expectedResponse computes the response a client knowing the password
// would send, from the stored HA1 (hex).
func expectedResponse(alg, ha1, method string, c *digest.Credentials) string {
	ha2 := hashHex(newHash(alg), method, c.URI)
	if c.QOP == "auth" {
		return hashHex(newHash(alg), ha1, c.Nonce, fmt.Sprintf("%08x", c.Nc), c.Cnonce, c.QOP, ha2)
	}
	return hashHex(newHash(alg), ha1, c.Nonce, ha2)
}

// responseMatches compares in constant time, ignoring hex case.
func responseMatches(want, got string) bool {
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(got))) == 1
}

// replays remembers the (nonce, cnonce, nc) of accepted credentials while the
// nonce lives. Without it, credentials captured on the wire could be sent
// again with a different Contact, within the nonce's lifetime, to steal the
// binding: digest does not cover the headers.
type replays struct {
	mu   sync.Mutex
	seen map[string]time.Time // key -> when it may be forgotten
	last time.Time
}

// maxReplays bounds memory; only valid credentials get here.
const maxReplays = 200_000

// fresh records the credentials and reports whether they were new.
func (r *replays) fresh(c *digest.Credentials, now time.Time, keep time.Duration) bool {
	key := c.Nonce + "\x00" + c.Cnonce + "\x00" + fmt.Sprint(c.Nc)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]time.Time{}
	}
	if now.Sub(r.last) > 10*time.Second || len(r.seen) >= maxReplays {
		for k, until := range r.seen {
			if now.After(until) {
				delete(r.seen, k)
			}
		}
		r.last = now
	}
	if _, ok := r.seen[key]; ok {
		return false
	}
	if len(r.seen) >= maxReplays {
		// Full of live entries: refuse rather than forget; the client gets
		// a new challenge and retries with a new nonce.
		return false
	}
	r.seen[key] = now.Add(keep)
	return true
}
