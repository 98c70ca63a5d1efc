package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"switchboard/internal/sip"
	"switchboard/internal/store"
)

// An admin can give phones their accounts before the server runs: the
// password is stored only as digest hashes for the realm.
func TestSIPAccountCommands(t *testing.T) {
	dir := t.TempDir()
	run := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		err := sipCmd(append(args, "--data-dir", dir, "--realm", "pbx.example.com"), strings.NewReader(stdin), &out)
		return out.String(), err
	}
	if err := user([]string{"add", "--username", "alice", "--data-dir", dir}, strings.NewReader(""), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if out, err := run("desk phone secret\n", "account", "add", "--username", "101", "--user", "alice", "--display-name", "Alice's desk", "--password-stdin"); err != nil || !strings.Contains(out, "created SIP account 101 (realm pbx.example.com)") || strings.Contains(out, "password:") {
		t.Fatalf("add: %q, %v", out, err)
	}
	out, err := run("", "account", "add", "--username", "102", "--disabled")
	if err != nil || !strings.Contains(out, "password: ") {
		t.Fatalf("add with a generated password: %q, %v", out, err)
	}
	for _, bad := range [][]string{
		{"account", "add", "--username", "101"}, // taken
		{"account", "add", "--username", "a b"}, // bad name
		{"account", "add", "--username", "103", "--user", "nobody"},
		{"account", "add", "--username", "104", "--password-stdin"}, // "short" is too short
		{"account", "add"},
		{"account", "delete"},
		{"account", "passwd", "nobody"},
		{"account", "rename", "101"},
		{"accounts"},
	} {
		if _, err := run("short\n", bad...); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	out, err = run("", "account", "list")
	if err != nil || !strings.Contains(out, "101") || !strings.Contains(out, "alice") || !strings.Contains(out, "disabled") {
		t.Fatalf("list: %q, %v", out, err)
	}

	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.SIPAccountByUsername(context.Background(), "101")
	st.Close()
	md5h, _ := sip.HashPassword("101", "pbx.example.com", "desk phone secret")
	if err != nil || a.HA1MD5 != md5h || a.DisplayName != "Alice's desk" || a.UserID == "" || !a.Enabled {
		t.Fatalf("stored %+v, %v", a, err)
	}

	if out, err := run("a new desk secret\n", "account", "passwd", "101", "--password-stdin"); err != nil || !strings.Contains(out, "new password set") {
		t.Fatalf("passwd: %q, %v", out, err)
	}
	if out, err := run("", "account", "delete", "102"); err != nil || !strings.Contains(out, "deleted SIP account 102") {
		t.Fatalf("delete: %q, %v", out, err)
	}
	st, _ = store.Open(context.Background(), dir)
	defer st.Close()
	a, _ = st.SIPAccountByUsername(context.Background(), "101")
	md5h, _ = sip.HashPassword("101", "pbx.example.com", "a new desk secret")
	if a.HA1MD5 != md5h {
		t.Error("passwd did not store the new hash")
	}
	if _, err := st.SIPAccountByUsername(context.Background(), "102"); err == nil {
		t.Error("102 not deleted")
	}
}
