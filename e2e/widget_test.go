package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"switchboard/internal/account"
	"switchboard/internal/contact"
)

// shopPage is a page of the organisation's website, on another origin than the server: it embeds the
// widget with one script tag.
// widgetHelpers runs in every page of the visitor's browser: it records the widget's JavaScript events
// and keeps the page's RTCPeerConnections so that the test can read their getStats (the widget's are
// its own).
const widgetHelpers = `
window.__events = [];
window.addEventListener('switchboard:contact', (e) => window.__events.push(e.detail));
window.__pcs = [];
const NativePC = window.RTCPeerConnection;
window.RTCPeerConnection = class extends NativePC { constructor(...a) { super(...a); window.__pcs.push(this); } };
window.__videoFrames = async () => {
  let n = 0;
  for (const pc of window.__pcs) {
    if (pc.connectionState === 'closed') continue;
    (await pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') n += s.framesDecoded || 0; });
  }
  return n;
};
window.__w = () => document.querySelector('[data-switchboard-widget]')?.shadowRoot;
`

const shopPage = `<!doctype html><html><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Our shop</h1><p>Prices and things.</p>
<script src="%s/widget.js" data-widget="%s" async></script></body></html>`

// TestWidget is a website visitor reaching an agent through the widget, in real browsers: the
// widget on another origin shows that an agent is available (Alex is available in the agent
// console); the visitor starts a chat, Alex's console rings with the offer and the visitor's page,
// he accepts; they exchange messages; the visitor reloads the page mid-conversation and the
// conversation goes on; Alex turns the chat into a video call from the console and each browser
// decodes the other's video; he hangs up, ends the contact and wraps it up. The contact
// portal lists the team and Alex as available; on Alex's contact link (/c/alex) the visitor clicks
// Video call, Alex's workspace rings, he answers, and each decodes the other's video. With Alex
// away, a visitor who waits longer than the queue's max wait is asked for a message, which lands in
// Alex's conversations. A widget of a closed queue says so, and the widget with the SDK it loads stays under 50 KB compressed.
func TestWidget(t *testing.T) {
	chromiumPath(t)
	srv := startServer(t, nil)
	alex := createUser(t, srv, "alex", "Alex", account.RoleAgent)
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		widget := "site"
		if r.URL.Path == "/closed" {
			widget = "night"
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, shopPage, srv.URL, widget)
	}))
	t.Cleanup(shop.Close)
	cs := srv.app.Contact()
	ctx := t.Context()
	if _, err := cs.PutQueue(ctx, contactQueue("sales", "Sales", alex.ID, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.PutQueue(ctx, contactQueue("night", "Night desk", alex.ID, closedHours())); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct{ id, queue string }{{"site", "sales"}, {"night", "night"}} {
		if _, err := cs.PutWidget(ctx, contactWidget(w.id, w.queue, shop.URL)); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("Size", func(t *testing.T) {
		total := 0
		for _, p := range []string{"/widget.js", "/sdk/messaging.js", "/sdk/switchboard.js", "/sdk/emitter.js", "/sdk/phone.js"} {
			resp, err := http.Get(srv.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var z bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
			zw.Write(b)
			zw.Close()
			total += z.Len()
			t.Logf("%s: %d bytes, %d compressed", p, len(b), z.Len())
		}
		if total > 50<<10 {
			t.Errorf("the widget and the SDK it loads are %d bytes compressed, want under 50 KB", total)
		}
	})

	agent, visitor := startBrowsers(t, "Alex", "Vera")
	if _, err := chromedp.Call(visitor.ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: widgetHelpers}); err != nil {
		t.Fatal(err)
	}
	agent.signIn(srv.URL, "alex")
	agent.openConsole()
	agent.setAgentState("available")
	agentFetch := func(method, path, body string) string {
		js := fmt.Sprintf(`(async () => {
			const r = await fetch(%q, {method: %q, headers: {'Content-Type': 'application/json', 'X-CSRF-Token': window.__sbChat._csrf}, body: %s});
			return r.status + ' ' + await r.text(); })()`, path, method, jsBody(body))
		return mustEval[string](agent, js)
	}

	var contactID string
	t.Run("StartChat", func(t *testing.T) {
		setT(t, agent, visitor)
		visitor.navigate(shop.URL + "/")
		visitor.waitJS(15*time.Second, "the widget's button saying an agent is available",
			`window.__w()?.querySelector('.launch')?.textContent === 'Talk to sales'`)
		mustEval[any](visitor, `window.__w().querySelector('.launch').click()`)
		visitor.waitJS(5*time.Second, "the panel", `!window.__w().querySelector('.panel').hidden && window.__w().querySelector('[data-media="chat"]')`)
		mustEval[any](visitor, `(() => { const w = window.__w(); w.querySelector('input[type=text]').value = 'Vera'; w.querySelector('[data-media="chat"]').click(); })()`)
		visitor.waitJS(15*time.Second, "the visitor in line", `window.__events.some((e) => e.type === 'started')`)
		// The agent's console rings with the offer, with the page the visitor is on.
		agent.waitJS(15*time.Second, "the offer in Alex's console", fmt.Sprintf(`(() => {
			const o = document.querySelector('[data-testid="offer"]');
			return o && o.querySelector('[data-testid="offer-name"]')?.textContent === 'Vera' && o.textContent.includes(%q); })()`, shop.URL+"/"))
		agent.click("offer-accept")
		agent.waitJS(10*time.Second, "the contact open in the console", `!!document.querySelector('[data-testid="contact-view"]')`)
		contactID = mustEval[string](agent, `document.querySelector('[data-testid="contact-view"]').dataset.contact`)
		visitor.waitJS(10*time.Second, "the widget saying Alex is there", `window.__events.some((e) => e.type === 'answered' && e.agent === 'Alex')`)
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("Messages", func(t *testing.T) {
		setT(t, agent, visitor)
		mustEval[any](visitor, `(() => { const w = window.__w(); w.querySelector('textarea').value = 'Is the blue one in stock?'; w.querySelector('form').requestSubmit(); })()`)
		agent.waitMessage(15*time.Second, "Is the blue one in stock?")
		agent.send("Yes, <b>two</b> left")
		visitor.waitJS(10*time.Second, "the agent's answer, as text", `[...window.__w().querySelectorAll('.msg.theirs')].some((m) => m.textContent === 'AlexYes, <b>two</b> left')`)
	})

	t.Run("Reload", func(t *testing.T) {
		setT(t, agent, visitor)
		visitor.navigate(shop.URL + "/")
		visitor.waitJS(20*time.Second, "the conversation again after the reload", `(() => {
			const w = window.__w();
			if (!w || w.querySelector('.panel').hidden) return false;
			const texts = [...w.querySelectorAll('.msg')].map((m) => m.textContent);
			return texts.includes('Is the blue one in stock?') && texts.includes('AlexYes, <b>two</b> left'); })()`)
		mustEval[any](visitor, `(() => { const w = window.__w(); w.querySelector('textarea').value = 'Still here'; w.querySelector('form').requestSubmit(); })()`)
		agent.waitMessage(15*time.Second, "Still here")
	})

	t.Run("EscalateToVideo", func(t *testing.T) {
		setT(t, agent, visitor)
		agent.click("contact-video") // the contact becomes a video contact, and the console calls the visitor
		visitor.waitJS(15*time.Second, "the call invitation in the widget", `!!window.__w().querySelector('[data-action="accept-call"]')`)
		mustEval[any](visitor, `window.__w().querySelector('[data-action="accept-call"]').click()`)
		agent.waitMediaFrom(mediaTimeout, 10, "Vera")
		eventually(t, mediaTimeout, "the visitor decoding the agent's video", func() (bool, string) {
			n := mustEval[float64](visitor, `window.__videoFrames()`)
			return n >= 10, fmt.Sprintf("%v frames", n)
		})
	})

	t.Run("End", func(t *testing.T) {
		setT(t, agent, visitor)
		agent.click("leave")
		agent.waitJS(15*time.Second, "the call screen closed", `!document.querySelector('[data-testid="call-layer"]')`)
		visitor.waitJS(15*time.Second, "the widget's call over", `!window.__w().querySelector('.video')`)
		agent.click("contact-end")
		visitor.waitJS(10*time.Second, "the widget saying it ended", `window.__events.some((e) => e.type === 'ended')`)
		agent.waitJS(10*time.Second, "the wrap-up form", `document.activeElement?.dataset.testid === 'wrapup-code'`)
		agent.typeInto("wrapup-code", "sale")
		agent.click("wrapup-save")
		eventually(t, 10*time.Second, "the wrap-up recorded", func() (bool, string) {
			got := agentFetch("GET", "/api/v1/contact/contacts/"+contactID, "")
			return strings.Contains(got, `"wrapUpCode":"sale"`) && strings.Contains(got, `"status":"ended"`), shorten(got)
		})
	})

	t.Run("ContactLink", func(t *testing.T) {
		setT(t, agent, visitor)
		visitor.navigate(srv.URL + "/contact")
		visitor.waitJS(10*time.Second, "the portal listing the team and Alex", `(() => {
			const q = document.querySelector('[data-testid="portal-queues"]'), p = document.querySelector('[data-testid="portal-people"]');
			return q && q.textContent.includes('Talk to sales') && p && p.textContent.includes('Alex') && p.textContent.includes('Available'); })()`)
		visitor.navigate(srv.URL + "/c/alex")
		visitor.waitJS(10*time.Second, "Alex's card, available", `(() => {
			const c = document.querySelector('[data-testid="contact-card"]');
			return c && c.textContent.includes('Alex') && c.textContent.includes('Available') && window.__w?.() !== undefined; })()`)
		visitor.waitJS(10*time.Second, "the widget loaded", `!!document.querySelector('[data-switchboard-widget]')?.shadowRoot?.querySelector('.launch:not([hidden])')`)
		visitor.click("contact-video")
		agent.waitJS(15*time.Second, "Alex's browser ringing", `(() => {
			const s = document.querySelector('[data-testid="incoming-call"]');
			return s && s.textContent.includes('video call'); })()`)
		agent.click("call-accept")
		agent.waitMediaFrom(mediaTimeout, 10, "Visitor")
		eventually(t, mediaTimeout, "the visitor decoding Alex's video", func() (bool, string) {
			n := mustEval[float64](visitor, `window.__videoFrames()`)
			return n >= 10, fmt.Sprintf("%v frames", n)
		})
	})

	t.Run("LeaveAMessage", func(t *testing.T) {
		setT(t, agent, visitor)
		agent.setAgentState("paused")
		q := contactQueue("sales", "Sales", alex.ID, nil)
		q.MaxWaitSeconds, q.Overflow = 2, contact.OverflowDoc{To: "message"}
		if _, err := cs.PutQueue(ctx, q); err != nil {
			t.Fatal(err)
		}
		visitor.navigate(shop.URL + "/")
		visitor.waitJS(15*time.Second, "the widget offering to leave a message", `window.__w()?.querySelector('.launch')?.textContent === 'Leave a message'`)
		mustEval[any](visitor, `window.__w().querySelector('.launch').click()`)
		visitor.waitJS(5*time.Second, "the form with an e-mail field", `!!window.__w().querySelector('input[type=email]')`)
		mustEval[any](visitor, `(() => { const w = window.__w(); w.querySelector('input[type=text]').value = 'Mia';
			w.querySelector('input[type=email]').value = 'mia@example.com'; w.querySelector('[data-media="chat"]').click(); })()`)
		visitor.waitJS(15*time.Second, "the widget asking for a message after the queue's max wait",
			`[...window.__w().querySelectorAll('.note')].some((n) => n.textContent.startsWith('Nobody is available right now')) && !window.__w().querySelector('form').hidden`)
		mustEval[any](visitor, `(() => { const w = window.__w(); w.querySelector('textarea').value = 'Please write back'; w.querySelector('form').requestSubmit(); })()`)
		// The message is in Alex's inbox, to answer later.
		eventually(t, 15*time.Second, "the message in Alex's conversations", func() (bool, string) {
			got := mustEval[string](agent, `(async () => {
				const r = await (await fetch('/api/v1/conversations')).json();
				const c = r.conversations.find((c) => c.name === 'Mia · Sales');
				if (!c) return 'no conversation';
				const m = await (await fetch('/api/v1/conversations/' + c.id + '/messages')).json();
				return JSON.stringify(m); })()`)
			return strings.Contains(got, "Please write back"), shorten(got)
		})
	})

	t.Run("Closed", func(t *testing.T) {
		setT(t, agent, visitor)
		visitor.navigate(shop.URL + "/closed")
		visitor.waitJS(15*time.Second, "the widget saying the queue is closed",
			`window.__w()?.querySelector('.launch')?.textContent === 'We are closed'`)
	})
}

func contactQueue(id, name, member string, hours *contact.HoursDoc) contact.QueueDoc {
	return contact.QueueDoc{ID: id, Name: name, Members: []contact.MemberDoc{{User: member}}, Hours: hours}
}

// closedHours are opening hours that are never open: one minute on no day.
func closedHours() *contact.HoursDoc {
	return &contact.HoursDoc{Timezone: "UTC", Days: map[string][][2]string{}}
}

func contactWidget(id, queue, origin string) contact.WidgetDoc {
	return contact.WidgetDoc{ID: id, Queue: queue, Title: "Talk to sales", AllowedOrigins: []string{origin}, Listed: id == "site"}
}

// jsBody is body as a JavaScript expression for fetch (undefined when empty).
func jsBody(body string) string {
	if body == "" {
		return "undefined"
	}
	b, _ := json.Marshal(body)
	return string(b)
}
