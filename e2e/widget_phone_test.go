package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"switchboard/internal/account"
	"switchboard/internal/config"
)

// Click-to-call: the shop's widget is set up to call the front desk's phone
// (extension 200, a sipp desk phone). A visitor clicks "Call us by phone"
// in the widget on the shop's site; the phone rings and answers, the
// visitor's browser hears it (packets and audio energy) and the phone hears
// the visitor (RTP counted by the server); the visitor hangs up in the
// widget and the phone gets the BYE. The visitor never names the number:
// the server dials what the widget is set up with.
func TestWidgetClickToCall(t *testing.T) {
	sipp, dir := sippPhone(t)
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
	})
	alex := createUser(t, srv, "alex", "Alex", account.RoleAgent)
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, shopPage, srv.URL, "site")
	}))
	t.Cleanup(shop.Close)
	cs := srv.app.Contact()
	ctx, cancel := context.WithTimeout(context.Background(), scaled(90*time.Second))
	defer cancel()
	if _, err := cs.PutQueue(ctx, contactQueue("sales", "Sales", alex.ID, nil)); err != nil {
		t.Fatal(err)
	}
	w := contactWidget("site", "sales", shop.URL)
	w.Phone = "200"
	if _, err := cs.PutWidget(ctx, w); err != nil {
		t.Fatal(err)
	}
	phone := startDeskPhone(t, ctx, srv, sipp, dir, "pbx.test", "200", "Front desk", "front desk phone", "")

	visitor := newBrowser(t, "Vera")
	if _, err := chromedp.Call(visitor.ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: widgetHelpers}); err != nil {
		t.Fatal(err)
	}
	visitor.navigate(shop.URL + "/")
	visitor.waitJS(15*time.Second, "the widget's button", `window.__w()?.querySelector('.launch')?.hidden === false`)
	mustEval[any](visitor, `window.__w().querySelector('.launch').click()`)
	visitor.waitJS(5*time.Second, "the phone button", `!!window.__w().querySelector('[data-media="phone"]')`)
	mustEval[any](visitor, `(() => { const w = window.__w(); w.querySelector('input[type=text]').value = 'Vera'; w.querySelector('[data-media="phone"]').click(); })()`)
	visitor.waitJS(20*time.Second, "the call active in the widget", `window.__events.some((e) => e.type === 'call' && e.state === 'active')`)

	eventually(t, scaled(15*time.Second), "the visitor to hear the phone", func() (bool, string) {
		st := mustEval[map[string]float64](visitor, `(async () => {
			let packets = 0, energy = 0;
			for (const pc of window.__pcs) {
				if (pc.connectionState === 'closed') continue;
				(await pc.getStats()).forEach((s) => {
					if (s.type === 'inbound-rtp' && s.kind === 'audio') { packets += s.packetsReceived || 0; energy += s.totalAudioEnergy || 0; }
				});
			}
			return { packets, energy }; })()`)
		return st["packets"] >= 40 && st["energy"] > 0, fmt.Sprintf("visitor's inbound audio: %v", st)
	})
	phoneHears(t, srv, 50)

	mustEval[any](visitor, `window.__w().querySelector('[data-call="phone"] .btn.red').click()`)
	phone.waitBye(t, ctx)
	visitor.waitJS(10*time.Second, "the call ended in the widget", `window.__events.some((e) => e.type === 'call' && e.state === 'ended')`)
}
