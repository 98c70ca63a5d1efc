package e2e

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/internal/account"
	"switchboard/internal/config"
)

// A browser calls a telephone number out through a trunk. The provider is
// sipp (uas_trunk_answer.xml): it challenges the INVITE (digest with the
// trunk's credentials), rings, answers with PCMA and echoes the RTP it
// receives (-rtp_echo). Ann, signed in, calls "02079460000" (national,
// read with sip.default_country_code 44; the trunk writes it nationally):
// the call connects, Ann hears her own voice come back from the provider
// (packets and audio energy: it went to sipp and back), the server counts
// RTP both ways, Ann hangs up and sipp gets the BYE, ending its scenario.
func TestBrowserCallsNumberThroughTrunk(t *testing.T) {
	callNumberThroughTrunk(t, "uas_trunk_answer.xml", "audio/PCMA")
}

// The same call to a provider that takes G.722: trunk calls offer it first
// (wideband), and the browser sends and plays it as it is, as it does
// G.711; Ann hears her voice back in G.722.
func TestBrowserCallsNumberWideband(t *testing.T) {
	callNumberThroughTrunk(t, "uas_trunk_answer_g722.xml", "audio/G722")
}

// callNumberThroughTrunk is the call out through a trunk to a sipp provider
// answering with scenario, in codec.
func callNumberThroughTrunk(t *testing.T, scenario, codec string) {
	t.Helper()
	sipp, dir := sippPhone(t)
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
		c.SIP.DefaultCountryCode = "44"
	})
	root := createUser(t, srv, "root", "Root", "admin")
	createUser(t, srv, "ann", "Ann", "member")
	ctx, cancel := context.WithTimeout(context.Background(), scaled(90*time.Second))
	defer cancel()

	// The provider waits for the call.
	port := strconv.Itoa(freePort(t, "127.0.0.1"))
	provider := startSipp(t, ctx, sipp, dir, scenario, "-p", port, "-rtp_echo")

	// An admin adds the trunk over REST.
	adminPost(t, srv, root.ID, "/api/v1/sip/trunks", `{"name":"Provider",
		"host":"127.0.0.1:`+port+`","username":"trunkuser","password":"trunk secret","fromDomain":"provider.test",
		"outboundPrefixes":["+44"],"numberFormat":"national","maxCalls":2}`)

	b := newBrowser(t, "Ann")
	b.signIn(srv.URL, "ann")
	b.waitJS(10*time.Second, "the calls module", `!!window.__sbCalls`)
	mustEval[bool](b, `(() => { window.__sbCalls.start({ phone: '02079460000' }, false); return true; })()`)
	b.waitJS(20*time.Second, "the call screen, connected", `window.__sb && window.__sb.room && window.__sb.room.state === 'connected' && document.querySelector('[data-testid="call-layer"] [data-testid="call"]')`)

	// Ann hears her own voice back from the provider: it went out through
	// the trunk and came back.
	hearsPhone(t, b, "+442079460000")
	usesOnlyCodec(t, b, codec)
	eventually(t, scaled(10*time.Second), "RTP both ways at the gateway", func() (bool, string) {
		in, out := metric(t, srv, "switchboard_sip_rtp_packets_in_total"), metric(t, srv, "switchboard_sip_rtp_packets_out_total")
		return in >= 40 && out >= 40, "RTP from the provider " + strconv.FormatFloat(in, 'f', 0, 64) + ", to it " + strconv.FormatFloat(out, 'f', 0, 64)
	})

	// Ann hangs up: the provider gets BYE and its scenario ends.
	b.click("leave")
	provider.waitBye(t, ctx)
	b.waitJS(15*time.Second, "the call screen closed", `!document.querySelector('[data-testid="call-layer"]')`)
}

// adminPost sends an admin's POST to the REST API and fails the test
// unless it answers 201.
func adminPost(t *testing.T, srv *server, adminID, path, body string) {
	t.Helper()
	accounts, err := account.New(account.Config{Store: srv.app.Store()})
	if err != nil {
		t.Fatal(err)
	}
	token, err := accounts.CreateToken(context.Background(), adminID, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", path, res.StatusCode, b)
	}
}

// A call from the telephone network rings a browser: sipp plays a
// provider's trunk (an IP-authenticated peer, no digest) and calls the
// number +15551234567, which an admin routed to Ben. Ben's page rings (the
// call carries the caller's number), he accepts, his browser hears the
// caller (sipp's G.711 capture: packets and audio energy, from the
// participant named after the caller's display name), the caller hears
// him (RTP counted by the server), and the caller hanging up closes the
// call screen.
func TestNumberCallsBrowserThroughTrunk(t *testing.T) {
	sipp, dir := sippPhone(t)
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
	})
	root := createUser(t, srv, "root", "Root", "admin")
	createUser(t, srv, "ben", "Ben", "member")
	adminPost(t, srv, root.ID, "/api/v1/sip/trunks", `{"name":"Provider","host":"127.0.0.1:5999","inboundIPs":["127.0.0.1"]}`)
	adminPost(t, srv, root.ID, "/api/v1/sip/numbers", `{"number":"+15551234567","label":"Support","target":{"kind":"user","value":"ben"}}`)

	b := newBrowser(t, "Ben")
	b.signIn(srv.URL, "ben")
	b.waitJS(10*time.Second, "the calls module", `!!window.__sbCalls`)

	ctx, cancel := context.WithTimeout(context.Background(), scaled(60*time.Second))
	defer cancel()
	caller := startSipp(t, ctx, sipp, dir, "uac_trunk_call.xml", srv.app.SIPAddrs().UDP.String(), "-s", "+15551234567",
		"-p", strconv.Itoa(freePort(t, "127.0.0.1")))

	b.waitJS(15*time.Second, "the incoming call screen", `!!document.querySelector('[data-testid="incoming-call"]')`)
	b.waitJS(5*time.Second, "the caller's number in the SDK", `[...window.__sbChat.calls.values()].some((c) => c.phone === '+15557654321' && !c.from)`)
	b.click("call-accept")
	b.waitJS(20*time.Second, "the call screen, connected", `window.__sb && window.__sb.room && window.__sb.room.state === 'connected' && document.querySelector('[data-testid="call-layer"] [data-testid="call"]')`)

	hearsPhone(t, b, "Jane Caller")
	phoneHears(t, srv, 50)
	caller.waitBye(t, ctx) // the caller hangs up at the end of its scenario
	b.waitJS(15*time.Second, "the call screen closed", `!document.querySelector('[data-testid="call-layer"]')`)
}
