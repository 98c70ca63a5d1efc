package sip

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"switchboard/internal/store"
)

// SIP accounts are managed by admins (the REST API in internal/app/sip.go
// and `switchboard sip account`). Both go through these functions, so the
// rules are the same wherever an account is made and a password is only
// ever stored as its digest hashes.

// ErrInvalid wraps the reasons an account's fields are refused; its
// message is meant for the admin who typed them.
var ErrInvalid = errors.New("invalid")

// Limits on what an admin may set.
const (
	MaxUsernameLen    = 64
	MinPasswordLen    = 8
	MaxPasswordLen    = 128
	MaxDisplayNameLen = 64
)

// CheckUsername reports whether u can be a SIP account's username: the
// user part of its address (sip:u@realm) and the digest username. Letters,
// digits and . _ - + ~ only, so it needs no escaping anywhere; case matters.
func CheckUsername(u string) error {
	if u == "" || len(u) > MaxUsernameLen {
		return fmt.Errorf("%w: the username must have 1 to %d characters", ErrInvalid, MaxUsernameLen)
	}
	for _, r := range u {
		if !(r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-+~", r))) {
			return fmt.Errorf("%w: the username %q may only hold letters, digits and . _ - + ~ (an extension such as 101 is fine)", ErrInvalid, u)
		}
	}
	return nil
}

// CheckPassword reports whether p is acceptable as a SIP password. Phones
// are often configured by typing on a keypad, so the rules are length only.
func CheckPassword(p string) error {
	n := utf8.RuneCountInString(p)
	if n < MinPasswordLen || n > MaxPasswordLen || !utf8.ValidString(p) {
		return fmt.Errorf("%w: the password must have %d to %d characters", ErrInvalid, MinPasswordLen, MaxPasswordLen)
	}
	if strings.ContainsFunc(p, unicode.IsControl) {
		return fmt.Errorf("%w: the password must not contain control characters", ErrInvalid)
	}
	return nil
}

// CheckDisplayName reports whether d can be an account's display name (it
// is sent in From headers, so no quotes or line breaks).
func CheckDisplayName(d string) error {
	if utf8.RuneCountInString(d) > MaxDisplayNameLen || !utf8.ValidString(d) ||
		strings.ContainsFunc(d, func(r rune) bool { return unicode.IsControl(r) || r == '"' || r == '\\' }) {
		return fmt.Errorf("%w: the display name must have at most %d characters and no quotes, backslashes or line breaks",
			ErrInvalid, MaxDisplayNameLen)
	}
	return nil
}

// GeneratePassword returns a random password of 20 lower-case letters and
// digits (about 100 bits), easy to type into a phone.
func GeneratePassword() string {
	const alphabet = "abcdefghijkmnopqrstuvwxyz23456789" // no l, 0, 1: they look alike
	b := make([]byte, 20)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// NewAccount checks the fields and returns the account to store, with a new
// id and the password's hashes for realm. The password is not kept.
func NewAccount(username, displayName, userID, realm, password string, enabled bool) (store.SIPAccount, error) {
	if err := errors.Join(CheckUsername(username), CheckDisplayName(displayName), CheckPassword(password)); err != nil {
		return store.SIPAccount{}, err
	}
	md5h, shah := HashPassword(username, realm, password)
	id := make([]byte, 16)
	rand.Read(id)
	return store.SIPAccount{ID: fmt.Sprintf("%x", id), Username: username, DisplayName: displayName, UserID: userID,
		Realm: realm, HA1MD5: md5h, HA1SHA256: shah, Enabled: enabled}, nil
}
