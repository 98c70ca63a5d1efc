package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"switchboard/internal/config"
)

// A browser transfers a call over a trunk, and the server does it: Ann
// calls a number from the dialer through a trunk whose provider is sipp
// (digest, answering with PCMA and echoing the RTP it receives), then
// transfers the call to Carl with the dialer's transfer control. Carl's
// page rings with a call from the number; he accepts, and hears his own
// voice come back from the provider (it went to sipp and back through the
// same trunk leg), while Ann's call ends as transferred. Carl hangs up and
// the provider gets its BYE.
func TestDialerTransfersTrunkCallToColleague(t *testing.T) {
	sipp, dir := sippPhone(t)
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
		c.SIP.DefaultCountryCode = "44"
	})
	root := createUser(t, srv, "root", "Root", "admin")
	createUser(t, srv, "ann", "Ann", "member")
	createUser(t, srv, "carl", "Carl", "member")
	ctx, cancel := context.WithTimeout(context.Background(), scaled(90*time.Second))
	defer cancel()
	port := strconv.Itoa(freePort(t, "127.0.0.1"))
	adminPost(t, srv, root.ID, "/api/v1/sip/trunks", `{"name":"Provider",
		"host":"127.0.0.1:`+port+`","username":"trunkuser","password":"trunk secret","fromDomain":"provider.test",
		"outboundPrefixes":["+44"],"numberFormat":"national","maxCalls":2}`)

	carl := newBrowser(t, "Carl")
	carl.signIn(srv.URL, "carl")
	carl.waitJS(10*time.Second, "the calls module", `!!window.__sbCalls`)
	b := newBrowser(t, "Ann")
	b.signIn(srv.URL, "ann")
	b.navigate(srv.URL + "/phone")
	b.waitJS(10*time.Second, "the dialer", `!!document.querySelector('[data-testid="dialer"]') && !!window.__sbPhonePage`)

	provider := startSipp(t, ctx, sipp, dir, "uas_trunk_answer.xml", "-p", port, "-rtp_echo")
	b.typeInto("dial-number", "02079460000")
	b.click("dial-call")
	b.waitJS(20*time.Second, "the call connected", `document.querySelector('[data-testid="in-call-state"]')?.dataset.state === 'active'`)

	b.click("in-call-transfer")
	b.typeInto("transfer-target", "carl")
	b.click("transfer-go")
	carl.waitJS(15*time.Second, "the incoming call screen", `!!document.querySelector('[data-testid="incoming-call"]')`)
	carl.waitJS(5*time.Second, "the caller's number in the SDK", `[...window.__sbChat.calls.values()].some((c) => c.phone === '+442079460000' && !c.from)`)
	carl.click("call-accept")
	carl.waitJS(20*time.Second, "the call screen, connected", `window.__sb && window.__sb.room && window.__sb.room.state === 'connected' && document.querySelector('[data-testid="call-layer"] [data-testid="call"]')`)
	b.waitJS(15*time.Second, "Ann's call ended as transferred", `document.querySelector('[data-testid="in-call"]').hidden`)
	hearsPhone(t, carl, "+442079460000")
	carl.shot("trunk-call-transferred-to-colleague")

	carl.click("leave")
	provider.waitBye(t, ctx)
	carl.waitJS(15*time.Second, "the call screen closed", `!document.querySelector('[data-testid="call-layer"]')`)
}
