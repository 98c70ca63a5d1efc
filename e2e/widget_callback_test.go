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

// "Call me back" with a phone number, in the widget: the server can call
// London numbers through a trunk, so the panel asks for a number. One
// that does not read as a number is refused at once with the reason, and
// the visitor corrects it; a national number is kept in E.164 with the
// callback request, and the panel says where we will call.
func TestWidgetCallbackByPhone(t *testing.T) {
	chromiumPath(t)
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
		c.SIP.DefaultCountryCode = "44"
		c.SIP.CallbackPrefixes = []string{"+44"} // visitors may give numbers here
	})
	root := createUser(t, srv, "root", "Root", account.RoleAdmin)
	alex := createUser(t, srv, "alex", "Alex", account.RoleAgent)
	adminPost(t, srv, root.ID, "/api/v1/sip/trunks", `{"name":"Provider","host":"127.0.0.1:5999","outboundPrefixes":["+44"]}`)
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, shopPage, srv.URL, "site")
	}))
	t.Cleanup(shop.Close)
	cs := srv.app.Contact()
	ctx, cancel := context.WithTimeout(context.Background(), scaled(60*time.Second))
	defer cancel()
	if _, err := cs.PutQueue(ctx, contactQueue("sales", "Sales", alex.ID, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.PutWidget(ctx, contactWidget("site", "sales", shop.URL)); err != nil {
		t.Fatal(err)
	}

	visitor := newBrowser(t, "Vera")
	if _, err := chromedp.Call(visitor.ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: widgetHelpers}); err != nil {
		t.Fatal(err)
	}
	visitor.navigate(shop.URL + "/")
	visitor.waitJS(15*time.Second, "the widget's button", `window.__w()?.querySelector('.launch')?.hidden === false`)
	mustEval[any](visitor, `window.__w().querySelector('.launch').click()`)
	visitor.waitJS(5*time.Second, "Call me back, with a number", `!!window.__w().querySelector('[data-media="callback"]') && !!window.__w().querySelector('[data-callback-phone]')`)
	mustEval[any](visitor, `(() => { const w = window.__w(); w.querySelector('[data-callback-phone]').value = 'call me maybe'; w.querySelector('[data-media="callback"]').click(); })()`)
	visitor.waitJS(10*time.Second, "the number refused with its reason", `[...window.__w().querySelectorAll('.note')].some((n) => n.textContent.includes('does not read as a telephone number'))`)
	mustEval[any](visitor, `(() => { const w = window.__w(); w.querySelector('[data-callback-phone]').value = '020 7946 0000'; w.querySelector('[data-media="callback"]').click(); })()`)
	visitor.waitJS(10*time.Second, "the callback booked", `[...window.__w().querySelectorAll('.note')].some((n) => n.textContent.includes('We will call you back on +442079460000'))`)
	open, err := srv.app.Store().OpenContacts(ctx)
	if err != nil || len(open) != 1 || open[0].Status != "callback" || open[0].Phone != "+442079460000" {
		t.Fatalf("open contacts: %+v %v", open, err)
	}
}
