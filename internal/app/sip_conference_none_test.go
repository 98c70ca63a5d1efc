//go:build !libopus

package app

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"

	"switchboard/internal/client"
	"switchboard/internal/protocol"
)

// Without libopus a phone cannot be put into an Opus meeting: the
// conference extension answers 503, and dial-out says why.
func TestSIPConferenceNeedsOpus(t *testing.T) {
	a := startSIPServer(t, nil)
	root := admin(t, a, "root")
	member(t, a, "alice")
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"100","password":"alice desk phone","userId":"alice"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ua, _ := sipgo.NewUA()
	defer ua.Close()
	phone, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	invite := phoneInvite(a.SIPAddrs().UDP.(*net.UDPAddr).Port, "Desk 100",
		"m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")
	invite.Recipient.User = "meet"
	if res := <-callFromPhone(ctx, t, phone, invite); res == nil || res.StatusCode != 503 {
		t.Fatalf("the conference extension answered %v, want 503", res)
	}

	host, err := client.Dial(ctx, a.URL(), newAPI(t), protocol.Join{Room: "noopus", Name: "Host"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	if r := host.Joined.Room; r.PIN != "" || r.DialIn != "" {
		t.Errorf("the meeting shows dial-in %q PIN %q, which cannot work in this build", r.DialIn, r.PIN)
	}
	_, err = host.Request(ctx, &protocol.DialOut{Target: "100"})
	if err == nil || !strings.Contains(err.Error(), "libopus") {
		t.Fatalf("dial-out without Opus: %v", err)
	}
}
