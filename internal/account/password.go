package account

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id costs of a password hash.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are OWASP's argon2id recommendation (19 MiB, 2 passes, 1
// lane), about 30-50 ms on one core. One lane per hash suits a 2-core server:
// two sign-ins verify in parallel, and since hashes run at most GOMAXPROCS at
// a time, a burst of sign-ins costs at most 19 MiB per core.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds for parameters, checked when hashing and when parsing a stored
// hash, so a damaged or hostile hash string cannot make us allocate
// gigabytes or spin for minutes (or make argon2 panic on zero values).
const (
	maxMemoryKiB = 1 << 21 // 2 GiB
	maxTime      = 64
	minSalt      = 8
	maxSalt      = 64
	minKey       = 16
	maxKey       = 64
)

// Password length limits, counted in characters (runes).
const (
	MinPasswordLen = 10
	MaxPasswordLen = 256
)

func (p Params) validate() error {
	switch {
	case p.Threads < 1:
		return errors.New("threads must be at least 1")
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("time must be 1-%d", maxTime)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemoryKiB:
		return fmt.Errorf("memory must be between 8 KiB per thread and %d KiB", maxMemoryKiB)
	case p.SaltLen < minSalt || p.SaltLen > maxSalt:
		return fmt.Errorf("salt length must be %d-%d bytes", minSalt, maxSalt)
	case p.KeyLen < minKey || p.KeyLen > maxKey:
		return fmt.Errorf("key length must be %d-%d bytes", minKey, maxKey)
	}
	return nil
}

// ValidatePassword checks a new password against the length rules. There
// are no composition rules: length is what makes a password strong.
func ValidatePassword(pw string) error {
	if !utf8.ValidString(pw) {
		return invalid("the password is not valid UTF-8")
	}
	switch n := utf8.RuneCountInString(pw); {
	case n < MinPasswordLen:
		return invalid("the password needs at least %d characters", MinPasswordLen)
	case n > MaxPasswordLen:
		return invalid("the password must be at most %d characters", MaxPasswordLen)
	}
	return nil
}

// GeneratePassword returns a random password of 26 characters (128 bits),
// for accounts made from the command line.
func GeneratePassword() string { return randomString(16) }

// HashPassword hashes password with argon2id under p and returns the PHC
// string: $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>, with
// salt and hash in unpadded standard base64.
func HashPassword(password string, p Params) (string, error) {
	if err := p.validate(); err != nil {
		return "", fmt.Errorf("account: password parameters: %w", err)
	}
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return encodeHash(p, salt, key), nil
}

var b64 = base64.RawStdEncoding.Strict()

func encodeHash(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

var errBadHash = errors.New("account: not an argon2id hash")

// parseHash reads a PHC string written by encodeHash. It is strict: one
// spelling per hash, parameters in order and within bounds.
func parseHash(h string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return Params{}, nil, nil, errBadHash
	}
	m, t, lanes, ok := parseCosts(parts[3])
	if !ok {
		return Params{}, nil, nil, errBadHash
	}
	salt, key = decodeB64(parts[4]), decodeB64(parts[5])
	if salt == nil || key == nil {
		return Params{}, nil, nil, errBadHash
	}
	p = Params{Memory: m, Time: t, Threads: lanes, SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	if p.validate() != nil {
		return Params{}, nil, nil, errBadHash
	}
	return p, salt, key, nil
}

// decodeB64 decodes unpadded base64, or returns nil. The decoder skips
// newlines, so the result is re-encoded and compared: one spelling only.
func decodeB64(s string) []byte {
	b, err := b64.DecodeString(s)
	if err != nil || b64.EncodeToString(b) != s {
		return nil
	}
	return b
}

// parseCosts reads "m=<n>,t=<n>,p=<n>" with plain decimal numbers.
func parseCosts(s string) (m, t uint32, p uint8, ok bool) {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return 0, 0, 0, false
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		digits, found := strings.CutPrefix(fields[i], name)
		// ParseUint rejects signs but accepts leading zeros: "01" would
		// be a second spelling of 1.
		if !found || digits == "" || (len(digits) > 1 && digits[0] == '0') {
			return 0, 0, 0, false
		}
		v, err := strconv.ParseUint(digits, 10, 32)
		if err != nil {
			return 0, 0, 0, false
		}
		vals[i] = v
	}
	if vals[2] > 255 {
		return 0, 0, 0, false
	}
	return uint32(vals[0]), uint32(vals[1]), uint8(vals[2]), true
}

// hasher runs argon2id at most GOMAXPROCS at a time: each hash takes
// Params.Memory, so unbounded concurrency under a burst of sign-ins would
// trade CPU time for an out-of-memory kill.
type hasher struct {
	params Params
	sem    chan struct{}

	dummyOnce sync.Once
	dummy     string
}

func newHasher(p Params) *hasher {
	return &hasher{params: p, sem: make(chan struct{}, runtime.GOMAXPROCS(0))}
}

func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *hasher) release() { <-h.sem }

// hash hashes a new password under the configured parameters.
func (h *hasher) hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return HashPassword(password, h.params)
}

// verify checks password against encoded in constant time. An empty or
// unreadable encoded (no such user, SSO-only user) is checked against a dummy
// hash and fails, so the answer takes as long as for a real user and does not
// reveal which usernames exist. rehash reports that the hash was made with
// other parameters than the configured ones.
func (h *hasher) verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	p, salt, key, perr := parseHash(encoded)
	if perr != nil {
		p, salt, key, _ = parseHash(h.dummyHash())
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	h.release()
	if perr != nil {
		return false, false, nil
	}
	ok = subtle.ConstantTimeCompare(got, key) == 1
	return ok, ok && p != h.params, nil
}

// dummyHash is a hash of a random password under the configured parameters,
// made on first use so that building a Service stays cheap.
func (h *hasher) dummyHash() string {
	h.dummyOnce.Do(func() {
		h.dummy, _ = HashPassword(randomString(16), h.params)
	})
	return h.dummy
}
