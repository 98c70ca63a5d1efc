package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"switchboard/internal/store"
)

// The command line covers what an admin needs before anyone can sign in:
// the first accounts, and invitation links for the rest.
func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := user(append(args, "--data-dir", dir), strings.NewReader("a long enough password\n"), &out)
		return out.String(), err
	}
	if out, err := run("add", "--username", "root", "--role", "admin", "--password-stdin"); err != nil || !strings.Contains(out, "created admin user root") {
		t.Fatalf("add: %q, %v", out, err)
	}
	out, err := run("invite", "--role", "agent", "--public-url", "https://meet.example.com/")
	if err != nil || !strings.Contains(out, "https://meet.example.com/invite/") {
		t.Fatalf("invite: %q, %v", out, err)
	}
	for _, bad := range [][]string{{"invite", "--role", "boss"}, {"invite", "--ttl", "2000h"}, {"invite", "extra"}, {"disable"}} {
		if _, err := run(bad...); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	invites, err := st.Invites(context.Background())
	if err != nil || len(invites) != 1 || invites[0].Role != "agent" {
		t.Fatalf("stored invitations %+v, %v; want one for an agent", invites, err)
	}
	if out, err := run("list"); err != nil || !strings.Contains(out, "root") {
		t.Fatalf("list: %q, %v", out, err)
	}
}
