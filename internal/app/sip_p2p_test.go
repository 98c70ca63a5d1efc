package app

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"

	"switchboard/internal/client"
)

// Two desk phones whose SIP accounts belong to nobody call each other: the
// callee rings, answers, and the audio of each reaches the other unaltered
// (G.711 passed through a two-party room); the caller's BYE ends the
// callee's call too. A phone that is not registered is unavailable (480);
// a phone calling itself is busy (486).
func TestSIPPhoneCallsPhone(t *testing.T) {
	a := startSIPServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	root := admin(t, a, "root")
	for _, acct := range []string{
		`{"username":"lobby","password":"lobby phone pass","displayName":"Lobby"}`,
		`{"username":"store","password":"store phone pass","displayName":"Store room"}`,
		`{"username":"fax","password":"fax line pass"}`,
	} {
		if resp := jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, acct); resp.StatusCode != 201 {
			t.Fatalf("create %s: %d", acct, resp.StatusCode)
		}
	}
	bank, err := client.NewPhones(netip.MustParseAddr("127.0.0.1"), a.SIPAddrs().UDP.String(), "pbx.test")
	if err != nil {
		t.Fatal(err)
	}
	defer bank.Close()
	lobby, err := bank.Register(ctx, "lobby", "lobby phone pass", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	store, err := bank.Register(ctx, "store", "store phone pass", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rang := make(chan *client.PhoneCall, 1)
	store.OnCall(func(c *client.PhoneCall) bool { rang <- c; return true })

	for target, want := range map[string]int{"fax": 480, "lobby": 486} {
		_, err := lobby.Call(ctx, target)
		var refused *client.CallRefused
		if !errors.As(err, &refused) || refused.Status != want {
			t.Errorf("call %s: %v, want %d", target, err, want)
		}
	}

	out, err := lobby.Call(ctx, "store")
	if err != nil {
		t.Fatal(err)
	}
	var in *client.PhoneCall
	select {
	case in = <-rang:
	case <-ctx.Done():
		t.Fatal("the store room's phone did not ring")
	}
	if in.From != "lobby" {
		t.Errorf("the call is from %q", in.From)
	}
	<-in.Answered()

	// Audio both ways, each side to the address the server gave it.
	hear := func(from, to *client.PhoneCall, payload []byte) {
		t.Helper()
		got := make(chan []byte, 1)
		go func() {
			buf := make([]byte, 1500)
			for {
				to.RTP.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := to.RTP.Read(buf)
				if err != nil {
					close(got)
					return
				}
				var p rtp.Packet
				if p.Unmarshal(buf[:n]) == nil && p.PayloadType == 0 && bytes.Equal(p.Payload, payload) {
					got <- payload
					return
				}
			}
		}()
		dst := net.UDPAddrFromAddrPort(from.Remote)
		for i := range 100 {
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(160 * i),
				SSRC: 0x1234}, Payload: payload}
			b, _ := pkt.Marshal()
			from.RTP.WriteToUDP(b, dst)
			select {
			case _, ok := <-got:
				if !ok {
					t.Fatal("no audio arrived")
				}
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		t.Fatal("no audio arrived in 2 s")
	}
	hear(out, in, bytes.Repeat([]byte{0x11}, 160))
	hear(in, out, bytes.Repeat([]byte{0x22}, 160))

	if err := out.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-in.Done():
	case <-ctx.Done():
		t.Fatal("the callee's call outlived the caller's BYE")
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.sip.srv.ActiveCalls() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls left", a.sip.srv.ActiveCalls())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
