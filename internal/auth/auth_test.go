package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	testNow    = time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	secret1    = []byte("0123456789abcdef0123456789abcdef-one")
	secret2    = []byte("0123456789abcdef0123456789abcdef-two")
	errNoSuchK = errors.New("no such key")
)

func lookup(kid string) ([]byte, error) {
	switch kid {
	case "SBKEY1":
		return secret1, nil
	case "SBKEY2":
		return secret2, nil
	case "SBSHORT":
		return []byte("short"), nil
	}
	return nil, errNoSuchK
}

func baseClaims() Claims {
	return Claims{
		Identity: "alice", Name: "Alice", Room: "standup",
		Join: true, Publish: true, Subscribe: true,
		IssuedAt:  testNow.Add(-time.Minute),
		ExpiresAt: testNow.Add(time.Hour),
	}
}

func mint(t *testing.T, kid string, secret []byte, edit func(*Claims)) string {
	t.Helper()
	c := baseClaims()
	if edit != nil {
		edit(&c)
	}
	tok, err := Mint(kid, secret, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// raw builds a token by hand so tests can produce what Mint refuses to.
func raw(header, payload map[string]any, secret []byte) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	s := enc(header) + "." + enc(payload)
	if secret == nil {
		return s + "."
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(s))
	return s + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestVerify(t *testing.T) {
	valid := mint(t, "SBKEY1", secret1, nil)
	parts := strings.Split(valid, ".")

	// Tampered: same header and signature, payload now grants another room.
	var payload map[string]any
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(b, &payload)
	payload["room"] = "boardroom"
	pb, _ := json.Marshal(payload)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(pb) + "." + parts[2]

	exp := testNow.Add(time.Hour).Unix()
	tests := []struct {
		name    string
		token   string
		want    error // nil means valid
		wantErr error // extra errors.Is check
	}{
		{name: "valid", token: valid},
		{name: "expired", token: mint(t, "SBKEY1", secret1, func(c *Claims) { c.ExpiresAt = testNow.Add(-time.Minute) }), want: ErrTokenExpired},
		{name: "expired within skew", token: mint(t, "SBKEY1", secret1, func(c *Claims) { c.ExpiresAt = testNow.Add(-20 * time.Second) })},
		{name: "not yet valid", token: mint(t, "SBKEY1", secret1, func(c *Claims) { c.NotBefore = testNow.Add(5 * time.Minute) }), want: ErrTokenInvalid},
		{name: "nbf within skew", token: mint(t, "SBKEY1", secret1, func(c *Claims) { c.NotBefore = testNow.Add(20 * time.Second) })},
		{name: "issued in the future", token: mint(t, "SBKEY1", secret1, func(c *Claims) { c.IssuedAt = testNow.Add(5 * time.Minute) }), want: ErrTokenInvalid},
		{name: "wrong key", token: mint(t, "SBKEY1", secret2, nil), want: ErrTokenInvalid},
		{name: "tampered payload", token: tampered, want: ErrTokenInvalid},
		{name: "expired and forged", token: mint(t, "SBKEY1", secret2, func(c *Claims) { c.ExpiresAt = testNow.Add(-time.Hour) }), want: ErrTokenInvalid},
		{name: "alg none", token: raw(map[string]any{"alg": "none", "typ": "JWT", "kid": "SBKEY1"}, map[string]any{"sub": "mallory", "exp": exp}, nil), want: ErrTokenInvalid},
		{name: "alg none with signature", token: raw(map[string]any{"alg": "none", "kid": "SBKEY1"}, map[string]any{"sub": "mallory", "exp": exp}, secret1), want: ErrTokenInvalid},
		{name: "alg RS256 with HMAC signature", token: raw(map[string]any{"alg": "RS256", "kid": "SBKEY1"}, map[string]any{"sub": "mallory", "exp": exp}, secret1), want: ErrTokenInvalid},
		{name: "unknown kid", token: mint(t, "SBNOPE", secret1, nil), want: ErrTokenInvalid, wantErr: errNoSuchK},
		{name: "missing kid", token: raw(map[string]any{"alg": "HS256"}, map[string]any{"sub": "a", "exp": exp}, secret1), want: ErrTokenInvalid},
		{name: "short secret", token: raw(map[string]any{"alg": "HS256", "kid": "SBSHORT"}, map[string]any{"sub": "a", "exp": exp}, []byte("short")), want: ErrTokenInvalid},
		{name: "no exp", token: raw(map[string]any{"alg": "HS256", "kid": "SBKEY1"}, map[string]any{"sub": "a"}, secret1), want: ErrTokenInvalid},
		{name: "hand-made valid", token: raw(map[string]any{"alg": "HS256", "kid": "SBKEY1"}, map[string]any{"sub": "a", "exp": exp, "join": true}, secret1)},
		{name: "empty", token: "", want: ErrTokenInvalid},
		{name: "garbage", token: "a.b.c", want: ErrTokenInvalid},
		{name: "too long", token: valid + strings.Repeat("A", maxTokenLen), want: ErrTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Verify(tt.token, lookup, testNow)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c == nil || c.ExpiresAt.IsZero() {
					t.Fatalf("claims %+v", c)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == ErrTokenInvalid && errors.Is(err, ErrTokenExpired) {
				t.Fatalf("err %v is also ErrTokenExpired", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want it to wrap %v", err, tt.wantErr)
			}
			if c != nil {
				t.Fatalf("claims returned with error: %+v", c)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	in := Claims{
		Identity: "bob", Name: "Bob B.", Room: "r1",
		Join: true, Publish: true, Subscribe: true, Moderate: true, Create: true, Admin: true,
		IssuedAt:  testNow.Add(-time.Minute),
		NotBefore: testNow.Add(-time.Minute),
		ExpiresAt: testNow.Add(time.Hour),
	}
	tok, err := Mint("SBKEY2", secret2, in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Verify(tok, lookup, testNow)
	if err != nil {
		t.Fatal(err)
	}
	// NumericDate has second precision; compare instants, not locations.
	if !out.IssuedAt.Equal(in.IssuedAt) || !out.NotBefore.Equal(in.NotBefore) || !out.ExpiresAt.Equal(in.ExpiresAt) {
		t.Fatalf("times differ: %+v", out)
	}
	out.IssuedAt, out.NotBefore, out.ExpiresAt = in.IssuedAt, in.NotBefore, in.ExpiresAt
	if *out != in {
		t.Fatalf("got %+v, want %+v", *out, in)
	}
}

func TestMintRejects(t *testing.T) {
	c := baseClaims()
	if _, err := Mint("", secret1, c); err == nil {
		t.Error("empty key id accepted")
	}
	if _, err := Mint("SBKEY1", []byte("short"), c); err == nil {
		t.Error("short secret accepted")
	}
	c.ExpiresAt = time.Time{}
	if _, err := Mint("SBKEY1", secret1, c); err == nil {
		t.Error("missing exp accepted")
	}
}

func TestRoomRestriction(t *testing.T) {
	tests := []struct {
		name                    string
		c                       Claims
		room                    string
		allows, join, mod, crea bool
	}{
		{"same room", Claims{Identity: "a", Room: "r1", Join: true, Moderate: true, Create: true}, "r1", true, true, true, true},
		{"other room", Claims{Identity: "a", Room: "r1", Join: true, Moderate: true, Create: true}, "r2", false, false, false, false},
		{"any room", Claims{Identity: "a", Join: true, Moderate: true, Create: true}, "r2", true, true, true, true},
		{"no grants", Claims{Identity: "a"}, "r1", true, false, false, false},
		{"join without identity", Claims{Join: true}, "r1", true, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			got := [4]bool{c.Allows(tt.room), c.CanJoin(tt.room), c.CanModerate(tt.room), c.CanCreate(tt.room)}
			want := [4]bool{tt.allows, tt.join, tt.mod, tt.crea}
			if got != want {
				t.Fatalf("Allows/CanJoin/CanModerate/CanCreate = %v, want %v", got, want)
			}
		})
	}

	// The restriction survives a round trip through a token.
	tok := mint(t, "SBKEY1", secret1, nil)
	c, err := Verify(tok, lookup, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !c.CanJoin("standup") || c.CanJoin("boardroom") {
		t.Fatalf("room restriction lost: %+v", c)
	}
}

func TestNewAPIKey(t *testing.T) {
	idRE := regexp.MustCompile(`^SB[A-Z2-7]{12}$`)
	seen := map[string]bool{}
	for range 100 {
		id, secret := NewAPIKey()
		if !idRE.MatchString(id) {
			t.Fatalf("id %q", id)
		}
		b, err := base64.RawURLEncoding.DecodeString(secret)
		if err != nil || len(b) != 32 {
			t.Fatalf("secret %q: %d bytes, %v", secret, len(b), err)
		}
		if seen[id] || seen[secret] {
			t.Fatal("repeated id or secret")
		}
		seen[id], seen[secret] = true, true
		// A fresh secret is usable as-is.
		if _, err := Mint(id, []byte(secret), baseClaims()); err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	valid, err := Mint("SBKEY1", secret1, baseClaims())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add("")
	f.Add("..")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(raw(map[string]any{"alg": "HS256", "kid": "SBKEY1"}, map[string]any{"exp": "soon"}, secret1))
	f.Add(raw(map[string]any{"alg": "HS256", "kid": 7}, map[string]any{"exp": 1e300}, secret1))
	f.Add(raw(map[string]any{"alg": "HS256", "kid": "SBKEY1"}, map[string]any{"exp": testNow.Unix() + 60, "nbf": -1e308, "room": []int{1}}, secret1))
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := Verify(tok, lookup, testNow)
		if err == nil && (c == nil || c.ExpiresAt.IsZero()) {
			t.Fatalf("accepted without exp: %q", tok)
		}
		if err != nil && !errors.Is(err, ErrTokenInvalid) && !errors.Is(err, ErrTokenExpired) {
			t.Fatalf("unclassified error %v", err)
		}
	})
}

func ExampleMint() {
	id, secret := NewAPIKey()
	tok, _ := Mint(id, []byte(secret), Claims{
		Identity: "alice", Room: "standup", Join: true, Publish: true, Subscribe: true,
		ExpiresAt: time.Now().Add(time.Hour),
	})
	c, err := Verify(tok, func(string) ([]byte, error) { return []byte(secret), nil }, time.Now())
	fmt.Println(c.CanJoin("standup"), err)
	// Output: true <nil>
}
