package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"switchboard/internal/config"
	"switchboard/internal/sip"
)

// A desk phone calls a person in their browser: sipp, registered as Ann's
// desk phone (SIP account 100), dials "ben" and streams sipp's G.711
// capture. Ben's page rings with Ann's name, he accepts, and his browser
// hears the phone (packets and audio energy) while his fake microphone
// reaches the phone (RTP counted by the server), in PCMU both ways with no
// transcoding. The phone hangs up and Ben's call screen closes.
func TestPhoneCallsBrowser(t *testing.T) {
	sipp, dir := sippPhone(t)
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
	})
	ann := createUser(t, srv, "ann", "Ann", "member")
	createUser(t, srv, "ben", "Ben", "member")
	acct, err := sip.NewAccount("100", "", ann.ID, "pbx.test", "ann desk phone", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.app.Store().CreateSIPAccount(context.Background(), acct); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, "Ben")
	b.signIn(srv.URL, "ben")

	// sipp offers PCMA only: the call and Ben's browser then use PCMA.
	target := srv.app.SIPAddrs().UDP.String()
	ctx, cancel := context.WithTimeout(context.Background(), scaled(60*time.Second))
	defer cancel()
	phone := startSipp(t, ctx, sipp, dir, "uac_auth_call_late.xml", target, "-s", "ben", "-au", "100", "-ap", "ann desk phone",
		"-key", "caller", "100", "-auth_uri", "ben@"+target, "-p", strconv.Itoa(freePort(t, "127.0.0.1")))

	b.waitJS(15*time.Second, "the incoming call screen", `(() => {
		const s = document.querySelector('[data-testid="incoming-call"]');
		return s && s.textContent.includes('Ann'); })()`)
	b.click("call-accept")
	b.waitJS(20*time.Second, "the call screen, connected", `window.__sb && window.__sb.room && window.__sb.room.state === 'connected' && document.querySelector('[data-testid="call-layer"] [data-testid="call"]')`)

	// Ben hears the phone.
	hearsPhone(t, b, "Ann")
	usesOnlyCodec(t, b, "audio/PCMA")
	// The phone hears Ben.
	phoneHears(t, srv, 50)

	// The phone hangs up at the end of its scenario: Ben's call screen closes.
	phone.waitBye(t, ctx)
	b.waitJS(15*time.Second, "the call screen closed", `!document.querySelector('[data-testid="call-layer"]')`)
	t.Logf("RTP from the phone %v, to the phone %v", metric(t, srv, "switchboard_sip_rtp_packets_in_total"),
		metric(t, srv, "switchboard_sip_rtp_packets_out_total"))
}
