package e2e

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/account"
	"switchboard/internal/chat"
	"switchboard/internal/config"
	"switchboard/internal/contact"
)

// A telephone caller in a contact-centre queue reaches an agent's console:
// sipp plays a provider's trunk and calls +15551239999, the Sales queue's
// number. The server answers at once (the caller waits in line, hearing
// the waiting sound). Bob's console rings with an offer showing the
// caller's name and number; one click on Accept opens the call screen
// with the telephone's controls (hold, keypad), Bob hears the caller
// (sipp's G.711 capture: packets and audio energy in getStats) and the
// caller hears him (RTP from the server to the phone counted once
// connected). The caller hanging up closes the call screen and leaves Bob
// the wrap-up; the call is written into the contact's conversation.
func TestConsolePhoneCaller(t *testing.T) {
	chromiumPath(t)
	sipp, dir := sippPhone(t)
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
	})
	ann := createUser(t, srv, "ann", "Ann", account.RoleAdmin)
	bob := createUser(t, srv, "bob", "Bob", account.RoleAgent)
	contactSetup(t, srv, apiToken(t, srv, ann.ID), bob.ID)
	adminPost(t, srv, ann.ID, "/api/v1/sip/trunks", `{"name":"Provider","host":"127.0.0.1:5999","inboundIPs":["127.0.0.1"]}`)
	adminPost(t, srv, ann.ID, "/api/v1/sip/numbers", `{"number":"+15551239999","label":"Sales line","target":{"kind":"queue","value":"sales"}}`)

	b := newBrowser(t, "Bob")
	b.signIn(srv.URL, "bob")
	b.openConsole()
	b.setAgentState("available")

	ctx, cancel := context.WithTimeout(context.Background(), scaled(60*time.Second))
	defer cancel()
	// (The scenario lives with the e2e tests; startSipp looks in internal/sip/testdata.)
	caller := startSipp(t, ctx, sipp, dir, "../../../e2e/testdata/uac_queue_call.xml", srv.app.SIPAddrs().UDP.String(),
		"-s", "+15551239999", "-p", strconv.Itoa(freePort(t, "127.0.0.1")))
	waiting := metric(t, srv, "switchboard_sip_rtp_packets_out_total")
	eventually(t, scaled(10*time.Second), "the waiting sound", func() (bool, string) {
		got := metric(t, srv, "switchboard_sip_rtp_packets_out_total")
		return got >= waiting+25, "RTP packets to phones: " + strconv.FormatFloat(got, 'f', 0, 64)
	})

	b.waitJS(15*time.Second, "the offer from the caller", `(() => {
		const o = document.querySelector('[data-testid="offer"]');
		return o && o.querySelector('[data-testid="offer-name"]').textContent === 'Jane Caller'
			&& o.querySelector('[data-testid="context-phone"]')?.textContent === '+15557654321'
			&& o.querySelector('[data-testid="offer-media"]').dataset.media === 'voice'; })()`)
	b.click("offer-accept")
	b.waitJS(20*time.Second, "the call screen, connected", `window.__sb && window.__sb.room && window.__sb.room.state === 'connected' && document.querySelector('[data-testid="call-layer"] [data-testid="call"]')`)
	b.waitJS(5*time.Second, "the caller's name on the call screen", `document.querySelector('[data-testid="call-layer"] .call-name')?.textContent === 'Jane Caller'`)
	b.waitJS(5*time.Second, "the telephone's controls", `!!document.querySelector('[data-testid="call-layer"] [data-testid="call-hold"]') && !!document.querySelector('[data-testid="call-layer"] [data-testid="call-keypad"]')`)
	b.waitJS(5*time.Second, "the caller's number in the contact", `document.querySelector('[data-testid="contact-context"] [data-testid="context-phone"]')?.textContent === '+15557654321'`)
	connected := metric(t, srv, "switchboard_sip_rtp_packets_out_total")
	hearsPhone(t, b, "Jane Caller")
	phoneHears(t, srv, connected+100)

	caller.waitBye(t, ctx) // the caller hangs up at the end of its scenario
	b.waitJS(15*time.Second, "the call screen closed", `!document.querySelector('[data-testid="call-layer"]')`)
	b.waitJS(15*time.Second, "the wrap-up", `!!document.querySelector('[data-testid="contact-tab"][data-status="ended"]')`)
}

// A callback by phone handed to Bob by a colleague: Bob's console shows
// the contact but does not dial the number by itself (each call costs and
// rings someone; only Accept, which shows the number, or Voice does).
func TestConsoleCallbackTransferNoDial(t *testing.T) {
	chromiumPath(t)
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
		c.SIP.DefaultCountryCode = "44"
		c.SIP.CallbackPrefixes = []string{"+44"}
	})
	ann := createUser(t, srv, "ann", "Ann", account.RoleAdmin)
	bob := createUser(t, srv, "bob", "Bob", account.RoleAgent)
	cara := createUser(t, srv, "cara", "Cara", account.RoleAgent)
	contactSetup(t, srv, apiToken(t, srv, ann.ID), cara.ID, bob.ID)
	// The provider: any packet to it is a call the console placed.
	provider, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { provider.Close() })
	var invites atomic.Int64
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := provider.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if strings.HasPrefix(string(buf[:n]), "INVITE ") {
				invites.Add(1)
			}
		}
	}()
	adminPost(t, srv, ann.ID, "/api/v1/sip/trunks", `{"name":"Provider","host":"`+provider.LocalAddr().String()+`","outboundPrefixes":["+44"]}`)
	cs := srv.app.Contact()
	ctx, cancel := context.WithTimeout(context.Background(), scaled(60*time.Second))
	defer cancel()
	if _, err := cs.SetState(ctx, chat.Identity{UserID: cara.ID, Username: "cara", DisplayName: "Cara", Role: "agent"}, "available"); err != nil {
		t.Fatal(err)
	}
	_, v, err := cs.StartVisitor(ctx, "site", contact.VisitorRequest{Name: "Vera"}, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	c, err := cs.Arrive(ctx, v, contact.ArriveRequest{Media: "voice", Callback: true, Phone: "+442079460000"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Accept(ctx, cara.ID, c.ID); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, "Bob")
	b.signIn(srv.URL, "bob")
	b.openConsole()
	b.setAgentState("available")
	if err := cs.TransferToAgent(ctx, cara.ID, c.ID, bob.ID); err != nil {
		t.Fatal(err)
	}
	b.waitJS(15*time.Second, "the contact at Bob, with the number", `document.querySelector('[data-testid="contact-context"] [data-testid="context-phone"]')?.textContent === '+442079460000'`)
	time.Sleep(scaled(3 * time.Second)) // what the console would do by itself, it does now
	if n := invites.Load(); n != 0 || mustEval[bool](b, `!!document.querySelector('[data-testid="call-layer"]')`) {
		t.Fatalf("Bob's console dialled the callback's number by itself after the transfer (%d INVITEs)", n)
	}
}
