package account

import (
	"errors"
	"strings"
	"testing"
)

func TestHashPasswordRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse battery", testParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q", h)
	}
	p, salt, key, err := parseHash(h)
	if err != nil || p != testParams || len(salt) != 16 || len(key) != 32 {
		t.Fatalf("parseHash = %+v, %d, %d, %v", p, len(salt), len(key), err)
	}
	if h2, _ := HashPassword("correct horse battery", testParams); h2 == h {
		t.Fatal("two hashes of one password are equal: no random salt")
	}

	hs := newHasher(testParams)
	for _, tc := range []struct {
		name, pw, hash string
		ok, rehash     bool
	}{
		{"right", "correct horse battery", h, true, false},
		{"wrong", "correct horse batterY", h, false, false},
		{"empty hash", "anything", "", false, false},
		{"garbage hash", "anything", "$2y$10$notargon", false, false},
	} {
		ok, rehash, err := hs.verify(t.Context(), tc.pw, tc.hash)
		if err != nil || ok != tc.ok || rehash != tc.rehash {
			t.Errorf("%s: verify = %v, %v, %v", tc.name, ok, rehash, err)
		}
	}
	// A hash under other parameters verifies and asks to be renewed.
	stronger := testParams
	stronger.Time = 2
	if ok, rehash, _ := newHasher(stronger).verify(t.Context(), "correct horse battery", h); !ok || !rehash {
		t.Fatalf("other parameters: ok %v rehash %v", ok, rehash)
	}
}

// A hash made by the reference implementation (libargon2's test vector)
// verifies: our PHC strings are the standard ones.
func TestReferenceHashVerifies(t *testing.T) {
	const ref = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	hs := newHasher(DefaultParams)
	ok, rehash, err := hs.verify(t.Context(), "password", ref)
	if err != nil || !ok || !rehash {
		t.Fatalf("reference hash: ok %v rehash %v err %v", ok, rehash, err)
	}
	if ok, _, _ := hs.verify(t.Context(), "passwore", ref); ok {
		t.Fatal("wrong password accepted")
	}
}

func TestParseHashRejects(t *testing.T) {
	good := "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	if _, _, _, err := parseHash(good); err != nil {
		t.Fatalf("good hash: %v", err)
	}
	for _, h := range []string{
		"",
		"$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",    // not id
		"$argon2id$v=16$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",   // old version
		"$argon2id$v=19$t=1,m=64,p=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",   // order
		"$argon2id$v=19$m=064,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",  // leading zero
		"$argon2id$v=19$m=64,t=0,p=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",   // no passes
		"$argon2id$v=19$m=64,t=1,p=0$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",   // no lanes
		"$argon2id$v=19$m=64,t=1,p=256$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", // lanes overflow
		"$argon2id$v=19$m=4294967295,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=64,t=1,p=1$c29tZQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",                   // salt too short
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA==$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", // padding
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPd",   // non-canonical tail bits
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc$",  // extra field
		"$argon2id$v=19$m=64,t=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",       // missing p
	} {
		if _, _, _, err := parseHash(h); !errors.Is(err, errBadHash) {
			t.Errorf("parseHash(%q) = %v, want errBadHash", h, err)
		}
	}
}

// FuzzParseHash: stored hashes are outside input (a restored backup, an
// import). Parsing never panics, and what parses re-encodes to exactly the
// input, so there is one spelling per hash and verification sees the same
// parameters a person reads.
func FuzzParseHash(f *testing.F) {
	h, _ := HashPassword("fuzz seed password", testParams)
	f.Add(h)
	f.Add("$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$$")
	f.Add("$argon2id$v=19$m=+64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := parseHash(s)
		if err != nil {
			return
		}
		if p.validate() != nil {
			t.Fatalf("parsed invalid parameters %+v from %q", p, s)
		}
		if back := encodeHash(p, salt, key); back != s {
			t.Fatalf("%q re-encodes as %q", s, back)
		}
	})
}

func TestValidatePassword(t *testing.T) {
	for _, tc := range []struct {
		pw string
		ok bool
	}{
		{"", false},
		{"123456789", false},
		{"1234567890", true},
		{"ääääääääää", true}, // ten characters, twenty bytes
		{"äääääääää", false}, // nine characters, eighteen bytes
		{strings.Repeat("x", 256), true},
		{strings.Repeat("x", 257), false},
		{"abcdefghij\xff", false},
	} {
		err := ValidatePassword(tc.pw)
		var ie *InvalidError
		if (err == nil) != tc.ok || (err != nil && !errors.As(err, &ie)) {
			t.Errorf("ValidatePassword(%q) = %v", tc.pw, err)
		}
	}
}

func TestConfigRejectsBadParams(t *testing.T) {
	for _, p := range []Params{
		{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 4, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8},
	} {
		if _, err := HashPassword("whatever-password", p); err == nil {
			t.Errorf("HashPassword accepted %+v", p)
		}
	}
	if err := DefaultParams.validate(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkDefaultParams shows what a sign-in costs in CPU on this machine
// (about 33 ms per hash on the 2-core test server).
func BenchmarkDefaultParams(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword("benchmark-password", DefaultParams); err != nil {
			b.Fatal(err)
		}
	}
}
