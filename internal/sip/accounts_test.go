package sip

import (
	"errors"
	"strings"
	"testing"
)

func TestAccountRules(t *testing.T) {
	for _, ok := range []string{"101", "alice", "Front.Desk_2", "+15551234567", "a~b-c"} {
		if err := CheckUsername(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "a@b", "a:b", "ä", strings.Repeat("x", 65), "a;b", "a\"b"} {
		if err := CheckUsername(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q accepted: %v", bad, err)
		}
	}
	for _, bad := range []string{"short", strings.Repeat("x", 129), "tab\there1", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8"} {
		if err := CheckPassword(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("password %q accepted", bad)
		}
	}
	if err := CheckDisplayName("Ann \"the boss\""); err == nil {
		t.Error("quotes accepted in a display name")
	}
	pw := GeneratePassword()
	if len(pw) != 20 || CheckPassword(pw) != nil || pw == GeneratePassword() {
		t.Errorf("generated %q", pw)
	}
	a, err := NewAccount("101", "Desk", "", "pbx.test", "desk secret", true)
	md5h, shah := HashPassword("101", "pbx.test", "desk secret")
	if err != nil || a.ID == "" || a.HA1MD5 != md5h || a.HA1SHA256 != shah || a.Realm != "pbx.test" || !a.Enabled {
		t.Fatalf("%+v, %v", a, err)
	}
	if _, err := NewAccount("a b", "x\"", "", "pbx.test", "short", true); err == nil ||
		!strings.Contains(err.Error(), "username") || !strings.Contains(err.Error(), "display name") || !strings.Contains(err.Error(), "password") {
		t.Errorf("every problem should be reported: %v", err)
	}
}
