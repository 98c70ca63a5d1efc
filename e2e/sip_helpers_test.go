package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"switchboard/internal/sip"
)

// deskPhone is a sipp desk phone registered with the server and waiting for
// one call, which it answers with PCMA (streaming sipp's G.711 capture and
// pressing 1 by RFC 2833), then waits for the BYE (uas_answer_pcma.xml, or
// another scenario of internal/sip/testdata).
type deskPhone struct {
	done <-chan error // sipp's exit once its scenario ended
	out  *syncBuffer
}

// startDeskPhone creates the SIP account ext (in realm, with password pw,
// linked to ownerID and shown as name), registers sipp with it, then starts
// sipp answering calls on the same port, in sippPhone's dir (the captures).
func startDeskPhone(t *testing.T, ctx context.Context, srv *server, sipp, dir, realm, ext, name, pw, ownerID string) *deskPhone {
	return startDeskPhoneWith(t, ctx, srv, sipp, dir, realm, ext, name, pw, ownerID, "uas_answer_pcma.xml")
}

// startDeskPhoneWith is startDeskPhone answering with scenario.
func startDeskPhoneWith(t *testing.T, ctx context.Context, srv *server, sipp, dir, realm, ext, name, pw, ownerID, scenario string) *deskPhone {
	t.Helper()
	acct, err := sip.NewAccount(ext, name, ownerID, realm, pw, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.app.Store().CreateSIPAccount(context.Background(), acct); err != nil {
		t.Fatal(err)
	}
	target := srv.app.SIPAddrs().UDP.String()
	port := strconv.Itoa(freePort(t, "127.0.0.1"))

	// The phone registers...
	reg, _ := filepath.Abs(filepath.Join("..", "internal", "sip", "testdata", "register.xml"))
	out, err := exec.CommandContext(ctx, sipp, target, "-sf", reg, "-s", ext, "-au", ext, "-ap", pw,
		"-key", "expires", "300", "-i", "127.0.0.1", "-p", port, "-m", "1", "-nostdin", "-timeout", "10s", "-timeout_error").CombinedOutput()
	if err != nil {
		t.Fatalf("sipp register: %v\n%s", err, tail(string(out), 4<<10))
	}
	if bs := srv.app.SIPBindings(ext); len(bs) != 1 {
		t.Fatalf("bindings of %s: %+v", ext, bs)
	}
	// ...and waits for calls on the same port.
	scen, _ := filepath.Abs(filepath.Join("..", "internal", "sip", "testdata", scenario))
	cmd := exec.CommandContext(ctx, sipp, "-sf", scen, "-i", "127.0.0.1", "-p", port,
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "127.0.0.1")),
		"-m", "1", "-nostdin", "-timeout", "60s", "-timeout_error")
	cmd.Dir = dir
	sippOut := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = sippOut, sippOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(300 * time.Millisecond) // sipp binds its port
	return &deskPhone{done: done, out: sippOut}
}

// waitBye waits until the phone's scenario ended well (it got the BYE).
func (p *deskPhone) waitBye(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("sipp: %v\n%s", err, tail(p.out.String(), 4<<10))
		}
	case <-ctx.Done():
		t.Fatalf("sipp did not finish\n%s", tail(p.out.String(), 4<<10))
	}
}
