package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"switchboard/internal/account"
	"switchboard/internal/client"
	"switchboard/internal/protocol"
)

// The customer-contact pages of the web app: the agent console and the supervisor dashboard,
// against the real contact service (docs/contact.md; the contract in /work/shared/contact/api.md).
// Staff configure and act through the REST API with API tokens; a website visitor is played from Go
// as the widget would: a visitor token for the widget's origin, the visitor API, and the messaging
// socket.

// shop is the website the test widget is embedded in (its allowed origin).
const shop = "https://shop.example"

// apiCall makes a JSON request with a bearer token (staff or visitor) and an Origin (when not empty).
// It fails the test unless the status is want, and decodes the answer into out (when not nil).
func apiCall(t *testing.T, srv *server, method, path, token, origin string, body any, want int, out any) []byte {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	c := &http.Client{Timeout: scaled(20 * time.Second)}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, want, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, path, b, err)
		}
	}
	return b
}

// apiToken gives a user an API token, as `switchboard apikey` does.
func apiToken(t *testing.T, srv *server, userID string) string {
	t.Helper()
	accounts, err := account.New(account.Config{Store: srv.app.Store()})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := accounts.CreateToken(context.Background(), userID, "e2e")
	if err != nil {
		t.Fatalf("token for %s: %v", userID, err)
	}
	return tok
}

// contactSetup makes queues sales (with the agents as members) and support, and the widget "site"
// on the sales queue for the shop's origin.
func contactSetup(t *testing.T, srv *server, adminToken string, agents ...string) {
	t.Helper()
	var members []map[string]any
	for _, a := range agents {
		members = append(members, map[string]any{"user": a, "weight": 1})
	}
	apiCall(t, srv, "PUT", "/api/v1/contact/queues/sales", adminToken, "", map[string]any{
		"name": "Sales", "strategy": "longest_idle", "members": members, "media": []string{"chat", "voice", "video"},
		"offerTimeoutSeconds": 60, "serviceLevelSeconds": 20,
	}, http.StatusOK, nil)
	apiCall(t, srv, "PUT", "/api/v1/contact/queues/support", adminToken, "", map[string]any{
		"name": "Support", "members": members, "media": []string{"chat"}, "offerTimeoutSeconds": 60,
	}, http.StatusOK, nil)
	apiCall(t, srv, "PUT", "/api/v1/contact/widgets/site", adminToken, "", map[string]any{
		"queue": "sales", "title": "Chat with us", "allowedOrigins": []string{shop},
	}, http.StatusOK, nil)
}

// visitor is a website visitor as the widget plays one.
type visitor struct {
	t     *testing.T
	srv   *server
	name  string
	token string
	id    string
	m     *client.Messenger
	mu    sync.Mutex
	got   []protocol.Message
}

// newVisitor starts a visitor of the widget "site" and opens their messaging socket.
func newVisitor(t *testing.T, srv *server, name, email string) *visitor {
	t.Helper()
	var started struct {
		Token   string `json:"token"`
		Visitor struct {
			ID string `json:"id"`
		} `json:"visitor"`
	}
	apiCall(t, srv, "POST", "/api/v1/contact/widgets/site/visitors", "", shop, map[string]string{"name": name, "email": email}, http.StatusCreated, &started)
	v := &visitor{t: t, srv: srv, name: name, token: started.Token, id: started.Visitor.ID}
	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1/connect?access_token=" + url.QueryEscape(v.token)
	m, err := client.DialMessenger(context.Background(), ws, http.Header{"Origin": {shop}}, func(msg protocol.Message) {
		v.mu.Lock()
		v.got = append(v.got, msg)
		v.mu.Unlock()
	})
	if err != nil {
		t.Fatalf("visitor %s's socket: %v", name, err)
	}
	v.m = m
	t.Cleanup(m.Drop)
	return v
}

// arrive puts the visitor in line (POST /api/v1/contact/visitor/contacts).
func (v *visitor) arrive(media, page, referrer string) protocol.ContactView {
	v.t.Helper()
	var c protocol.ContactView
	apiCall(v.t, v.srv, "POST", "/api/v1/contact/visitor/contacts", v.token, shop,
		map[string]string{"media": media, "page": page, "referrer": referrer}, http.StatusCreated, &c)
	return c
}

// leave is the visitor closing the widget before anyone answered.
func (v *visitor) leave(contact string) {
	v.t.Helper()
	apiCall(v.t, v.srv, "POST", "/api/v1/contact/visitor/contacts/"+contact+"/leave", v.token, shop, nil, http.StatusNoContent, nil)
}

// say sends a message in the contact's conversation.
func (v *visitor) say(conv, text string) {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scaled(10*time.Second))
	defer cancel()
	if _, err := v.m.Request(ctx, &protocol.Send{Conversation: conv, Txn: fmt.Sprintf("t%d", time.Now().UnixNano()), Text: text}); err != nil {
		v.t.Fatalf("visitor %s saying %q: %v", v.name, text, err)
	}
}

// heard reports whether the visitor's socket delivered a message with this text.
func (v *visitor) heard(text string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, m := range v.got {
		if e, ok := m.(*protocol.EventMsg); ok && e.Entry.Text == text {
			return true
		}
	}
	return false
}

// openConsole opens the agent console from the workspace's sidebar, as an agent does.
func (b *browser) openConsole() {
	b.t.Helper()
	b.waitJS(10*time.Second, "the Agent console entry", `document.querySelector('[data-testid="open-console"]')?.offsetParent !== null`)
	b.click("open-console")
	b.waitJS(15*time.Second, "the console loaded", `location.pathname === '/console' && document.querySelector('[data-testid="console-page"]') && window.__sbConsole`)
}

// setAgentState picks a status in the console's selector and waits until the server's answer shows.
func (b *browser) setAgentState(state string) {
	b.t.Helper()
	b.selectValue(`[data-testid="agent-state"]`, state)
	b.waitJS(10*time.Second, "the status "+state, fmt.Sprintf(`document.querySelector('[data-testid="console-page"]').dataset.agentState === %q && !document.querySelector('[data-testid="console-page"]').dataset.stateSaving`, state))
}

// TestConsoleOffer drives the agent console as an agent answering a website visitor. Bob (agent)
// opens the console from the workspace and becomes available (still so after a reload). A visitor
// whose name holds HTML starts a chat from a page of the shop and writes: Bob's console shows the
// offer ringing (the WebAudio ring makes its tones, a screen-reader announcement is made), with the
// name as text, the queue, the page, the referrer, no earlier contacts and a countdown. He accepts:
// the ring stops, the contact opens as a tab with the visitor's message in its conversation; his
// reply reaches the visitor; he jots notes. He ends it and saves a wrap-up with those notes, which
// the server records (the form survives a reload). The visitor comes back: the new offer shows the
// earlier contact with its wrap-up code; Bob declines it and the ring stops. A third visitor asks
// to talk: accepting starts a voice call in the contact's conversation; Bob turns it into a video
// call (the contact's media changes, a video call starts), then transfers the visitor to Support
// from the dialog of the other queues. A visitor who leaves mid-chat leaves Bob the wrap-up (a code
// is required). Two chats at once: both ring, Bob accepts both, a message in the one he is not
// looking at shows as a count on its tab, the arrow keys move between the tabs, and each answer
// reaches its own visitor. An offer nobody answers in time leaves, says so, and the ring stops. As
// an agent, Bob is refused the supervisor dashboard; made a member, he sees neither the console's
// nor the dashboard's entry, and the console refuses him. Each step is a subtest sharing the
// browser.
func TestConsoleOffer(t *testing.T) {
	chromiumPath(t)
	start := time.Now()
	srv := startServer(t, nil)
	ann := createUser(t, srv, "ann", "Ann", account.RoleAdmin)
	bob := createUser(t, srv, "bob", "Bob", account.RoleAgent)
	annToken, bobToken := apiToken(t, srv, ann.ID), apiToken(t, srv, bob.ID)
	contactSetup(t, srv, annToken, bob.ID)

	b := newBrowser(t, "Bob")
	b.signIn(srv.URL, "bob")
	t.Logf("Bob signed in after %v", time.Since(start).Round(time.Millisecond))

	t.Run("OpenConsole", func(t *testing.T) {
		setT(t, b)
		if shown := mustEval[bool](b, `document.querySelector('[data-testid="open-supervisor"]')?.offsetParent != null`); shown {
			t.Errorf("an agent sees the Supervisor entry")
		}
		b.openConsole()
		b.waitJS(10*time.Second, "Bob's queues", `document.querySelector('[data-testid="agent-queues"]').textContent.includes('Sales')`)
		b.setAgentState("available")
		// Reloaded (or opened from a bookmark), the console comes back with the status the server keeps.
		b.navigate(srv.URL + "/console")
		b.waitJS(15*time.Second, "the console after a reload, Bob available", `document.querySelector('[data-testid="console-page"]')?.dataset.agentState === 'available' && window.__sbConsole`)
		// Count the tones the ring makes (WebAudio oscillators).
		mustEval[bool](b, `(() => {
			const make = AudioContext.prototype.createOscillator;
			window.__tones = 0;
			AudioContext.prototype.createOscillator = function () { window.__tones++; return make.call(this); };
			return true; })()`)
		b.waitJS(5*time.Second, "no offers", `!document.querySelector('[data-testid="offers-empty"]').hidden && document.querySelector('[data-testid="console-page"]').dataset.ringing === 'false'`)
	})

	const name = `Vera <b>Vogel</b>`
	const first = "Hello, where is my order 1234?"
	var v *visitor
	var c protocol.ContactView
	offer := func(id string) string {
		return fmt.Sprintf(`[data-testid="offer"][data-contact=%q]`, id)
	}
	outer := t // the visitor's socket lives as long as the test, not the subtest
	t.Run("OfferRings", func(t *testing.T) {
		setT(t, b)
		v = newVisitor(outer, srv, name, "vera@example.com")
		c = v.arrive("chat", "https://shop.example/orders?id=1234", "https://search.example/?q=shop")
		v.say(c.Conversation, first)
		b.waitJS(15*time.Second, "the offer, with the visitor's earlier contacts looked up", `document.querySelector(`+jsString(offer(c.ID))+`) && !document.querySelector('[data-testid="context-previous-loading"]')`)
		got := mustEval[map[string]any](b, `(() => {
			const o = document.querySelector(`+jsString(offer(c.ID))+`);
			const page = o.querySelector('[data-testid="context-page"] a');
			return {
				name: o.querySelector('[data-testid="offer-name"]').textContent,
				markup: o.querySelectorAll('b').length,
				queue: o.querySelector('[data-testid="offer-queue"]').textContent,
				media: o.querySelector('[data-testid="offer-media"]').dataset.media,
				page: page ? page.href : '', pageText: page ? page.textContent : '',
				referrer: o.querySelector('[data-testid="context-referrer"]').textContent,
				previous: o.querySelector('[data-testid="context-previous-none"]')?.textContent || 'has previous',
				countdown: o.querySelector('[data-testid="offer-countdown"]').textContent,
				ringing: window.__sbConsole.ringer.ringing, flag: document.querySelector('[data-testid="console-page"]').dataset.ringing,
				announced: document.querySelector('[data-testid="offer-announcer"]').textContent,
				live: document.querySelector('[data-testid="offer-announcer"]').getAttribute('aria-live'),
			};
		})()`)
		if got["name"] != name || got["markup"] != float64(0) {
			t.Errorf("the visitor's name shows as %q with %v <b> elements; want the text %q and no markup", got["name"], got["markup"], name)
		}
		if got["queue"] != "Sales" || got["media"] != "chat" {
			t.Errorf("queue/media: %v/%v, want Sales/chat", got["queue"], got["media"])
		}
		if got["page"] != "https://shop.example/orders?id=1234" || got["pageText"] != "https://shop.example/orders?id=1234" || got["referrer"] != "https://search.example/?q=shop" {
			t.Errorf("page %v (%v), referrer %v", got["page"], got["pageText"], got["referrer"])
		}
		if got["previous"] != "First contact" {
			t.Errorf("earlier contacts: %v, want First contact", got["previous"])
		}
		if cd, _ := got["countdown"].(string); !strings.HasPrefix(cd, "Rings for ") || !strings.HasSuffix(cd, " s") {
			t.Errorf("countdown %q, want Rings for N s", cd)
		}
		if got["ringing"] != true || got["flag"] != "true" {
			t.Errorf("the ring: ringer %v, page flag %v; want it ringing", got["ringing"], got["flag"])
		}
		if a, _ := got["announced"].(string); !strings.Contains(a, name) || got["live"] != "assertive" {
			t.Errorf("announcement %q (aria-live %v); want the visitor's name announced", a, got["live"])
		}
		// The ring sounds: tones are made, again every two seconds.
		b.waitJS(10*time.Second, "the ring's tones, twice", `window.__tones >= 4`)
		// The countdown counts down.
		before := mustEval[string](b, `document.querySelector(`+jsString(offer(c.ID)+` [data-testid="offer-countdown"]`)+`).textContent`)
		b.waitJS(5*time.Second, "the countdown to move", `document.querySelector(`+jsString(offer(c.ID)+` [data-testid="offer-countdown"]`)+`).textContent !== `+jsString(before))
	})

	const reply = "Hi Vera, it left our warehouse this morning."
	t.Run("AcceptAndTalk", func(t *testing.T) {
		setT(t, b)
		b.click("offer-accept")
		b.waitJS(10*time.Second, "the contact open", fmt.Sprintf(`document.querySelector('[data-testid="contact-view"][data-contact=%q]') && document.querySelector('[data-testid="contact-tab"][data-contact=%q][aria-selected="true"]')`, c.ID, c.ID))
		b.waitJS(5*time.Second, "the offer gone and the ring stopped", `!document.querySelector('[data-testid="offer"]') && !window.__sbConsole.ringer.ringing`)
		tones := mustEval[float64](b, `window.__tones`)
		b.waitJS(15*time.Second, "the visitor's message in the conversation", fmt.Sprintf(
			`[...document.querySelectorAll('[data-testid="contact-view"] [data-testid="message-text"]')].some((m) => m.textContent === %s)`, jsString(first)))
		author := mustEval[string](b, fmt.Sprintf(`(() => {
			const m = [...document.querySelectorAll('[data-testid="contact-view"] [data-testid="message"]')].find((x) => x.querySelector('[data-testid="message-text"]')?.textContent === %s);
			return m.querySelector('.msg-author')?.textContent || ''; })()`, jsString(first)))
		if author != name {
			t.Errorf("the visitor's message is signed %q, want %q", author, name)
		}
		if got := mustEval[string](b, `document.querySelector('[data-testid="contact-name"]').textContent`); got != name {
			t.Errorf("the contact's title is %q, want %q", got, name)
		}
		b.send(reply)
		eventually(t, 10*time.Second, "the reply at the visitor", func() (bool, string) { return v.heard(reply), "not yet" })
		// Notes while talking; they go with the wrap-up.
		b.typeInto("contact-notes", "Parcel tracking sent.")
		time.Sleep(scaled(2500 * time.Millisecond))
		if now := mustEval[float64](b, `window.__tones`); now != tones {
			t.Errorf("the ring went on after the offer was accepted: %v tones, then %v", tones, now)
		}
	})

	t.Run("EndAndWrapUp", func(t *testing.T) {
		setT(t, b)
		b.click("contact-end")
		b.waitJS(10*time.Second, "the wrap-up form, its code focused", `document.querySelector('[data-testid="wrapup-form"]') && document.activeElement?.dataset.testid === 'wrapup-code'`)
		if dis := mustEval[bool](b, `['contact-voice','contact-video','contact-transfer','contact-end'].every((id) => document.querySelector('[data-testid="' + id + '"]').disabled)`); !dis {
			t.Errorf("the contact's actions are still enabled after End")
		}
		// A reload of the console keeps the contact waiting for its wrap-up, notes included.
		b.navigate(srv.URL + "/console")
		b.waitJS(15*time.Second, "the wrap-up form after a reload", fmt.Sprintf(`document.querySelector('[data-testid="contact-view"][data-contact=%q] [data-testid="wrapup-form"]')`, c.ID))
		if notes := mustEval[string](b, `document.querySelector('[data-testid="wrapup-notes"]').value`); notes != "Parcel tracking sent." {
			t.Errorf("the wrap-up's notes start as %q, want the notes written during the chat", notes)
		}
		b.typeInto("wrapup-code", "resolved")
		b.click("wrapup-save")
		b.waitJS(10*time.Second, "the contact gone from the list", `!document.querySelector('[data-testid="contact-tab"]') && document.querySelector('[data-testid="console-empty"]')`)
		var got protocol.ContactView
		apiCall(t, srv, "GET", "/api/v1/contact/contacts/"+c.ID, bobToken, "", nil, http.StatusOK, &got)
		if got.WrapUpCode != "resolved" || got.Notes != "Parcel tracking sent." || got.Status != "ended" {
			t.Errorf("the recorded contact: status %q, code %q, notes %q; want ended, resolved, the notes", got.Status, got.WrapUpCode, got.Notes)
		}
	})

	t.Run("ReturningVisitorDeclined", func(t *testing.T) {
		setT(t, b)
		again := v.arrive("video", "https://shop.example/returns", "")
		if again.ID == c.ID {
			t.Fatalf("the visitor's second contact has the first one's id")
		}
		b.waitJS(15*time.Second, "the second offer, with the earlier contacts", `document.querySelector(`+jsString(offer(again.ID))+`) && !document.querySelector('[data-testid="context-previous-loading"]')`)
		prev := mustEval[string](b, `document.querySelector(`+jsString(offer(again.ID)+` [data-testid="context-previous"]`)+`)?.textContent || ''`)
		if !strings.Contains(prev, "resolved") || !strings.Contains(prev, "Bob") {
			t.Errorf("earlier contacts on the second offer: %q, want the first one, with Bob, resolved", prev)
		}
		if m := mustEval[string](b, `document.querySelector(`+jsString(offer(again.ID)+` [data-testid="offer-media"]`)+`).dataset.media`); m != "video" {
			t.Errorf("the second offer's media is %q, want video", m)
		}
		b.click("offer-decline")
		b.waitJS(10*time.Second, "the offer gone and the ring stopped", `!document.querySelector('[data-testid="offer"]') && !window.__sbConsole.ringer.ringing`)
		v.leave(again.ID)
	})

	t.Run("VideoAndTransfer", func(t *testing.T) {
		setT(t, b)
		tom := newVisitor(outer, srv, "Tom", "")
		tc := tom.arrive("voice", "https://shop.example/cart", "")
		b.waitJS(15*time.Second, "Tom's offer", `document.querySelector(`+jsString(offer(tc.ID))+`)`)
		b.click("offer-accept")
		b.waitJS(10*time.Second, "Tom's contact open", fmt.Sprintf(`document.querySelector('[data-testid="contact-view"][data-contact=%q] [data-testid="composer-input"]')`, tc.ID))
		// hangUp ends the call the console started (still calling, or in the call screen).
		lastCall := `[...window.__sbChat.calls.values()].at(-1)`
		// (A call in a group conversation moves from "Calling…" to the call screen by itself: the
		// button to press is whichever shows.)
		hangUp := func() {
			t.Helper()
			b.waitJS(15*time.Second, "the call closed", `(() => {
				const end = document.querySelector('[data-testid="call-cancel"], [data-testid="call-layer"] [data-testid="leave"]');
				if (end) end.click();
				return !document.querySelector('[data-testid="outgoing-call"], [data-testid="call-layer"]'); })()`)
		}
		// Tom asked to talk: accepting starts a voice call in the contact's conversation.
		b.waitJS(15*time.Second, "the voice call starting", `document.querySelector('[data-testid="outgoing-call"], [data-testid="call-layer"]')`)
		b.waitJS(10*time.Second, "a call in Tom's conversation", fmt.Sprintf(`%s?.conversation === %q`, lastCall, tc.Conversation))
		if video := mustEval[bool](b, lastCall+`.video`); video {
			t.Errorf("the call of a voice contact is a video call")
		}
		hangUp()
		// Video: the contact becomes a video contact and a video call starts.
		b.click("contact-video")
		b.waitJS(15*time.Second, "the video call starting", `document.querySelector('[data-testid="outgoing-call"], [data-testid="call-layer"]') && `+lastCall+`.video`)
		var got protocol.ContactView
		apiCall(t, srv, "GET", "/api/v1/contact/contacts/"+tc.ID, annToken, "", nil, http.StatusOK, &got)
		if got.Media != "video" {
			t.Errorf("after Video the contact's media is %q, want video", got.Media)
		}
		hangUp()
		// Transfer to Support: a dialog of the other queues.
		b.click("contact-transfer")
		b.waitJS(5*time.Second, "the transfer dialog", `document.querySelector('[data-testid="transfer-dialog"] [data-testid="transfer-queue"]')`)
		queues := mustEval[[]string](b, `[...document.querySelectorAll('[data-testid="transfer-queue"]')].map((r) => r.value + ':' + r.closest('label').textContent)`)
		if len(queues) != 1 || queues[0] != "support:Support" {
			t.Errorf("the transfer dialog offers %v, want only support:Support", queues)
		}
		b.do(5*time.Second, "choosing Support", chromedp.Click(chromedp.CSS(`[data-testid="transfer-queue"][value="support"]`)))
		b.click("transfer-confirm")
		b.waitJS(10*time.Second, "Tom gone from Bob's contacts", fmt.Sprintf(`!document.querySelector('[data-testid="transfer-dialog"]') && !document.querySelector('[data-testid="contact-tab"][data-contact=%q]')`, tc.ID))
		apiCall(t, srv, "GET", "/api/v1/contact/contacts/"+tc.ID, annToken, "", nil, http.StatusOK, &got)
		if got.Queue != "support" || (got.Status != "waiting" && got.Status != "offered") {
			t.Errorf("after the transfer the contact is %s in %s, want waiting or offered in support", got.Status, got.Queue)
		}
		// Bob answers Support too: if the contact rings for him again, he lets it go.
		time.Sleep(scaled(500 * time.Millisecond))
		if mustEval[bool](b, `!!document.querySelector(`+jsString(offer(tc.ID))+`)`) {
			if q := mustEval[string](b, `document.querySelector(`+jsString(offer(tc.ID)+` [data-testid="offer-queue"]`)+`).textContent`); q != "Support" {
				t.Errorf("the transferred contact rings from %q, want Support", q)
			}
		}
		tom.leave(tc.ID)
		b.waitJS(10*time.Second, "no offer left", `!document.querySelector('[data-testid="offer"]')`)
	})

	t.Run("VisitorLeaves", func(t *testing.T) {
		setT(t, b)
		ida := newVisitor(outer, srv, "Ida", "")
		ic := ida.arrive("chat", "https://shop.example/", "")
		b.waitJS(15*time.Second, "Ida's offer", `document.querySelector(`+jsString(offer(ic.ID))+`)`)
		b.click("offer-accept")
		b.waitJS(10*time.Second, "Ida's contact open", fmt.Sprintf(`document.querySelector('[data-testid="contact-view"][data-contact=%q] [data-testid="composer-input"]')`, ic.ID))
		ida.leave(ic.ID)
		b.waitJS(10*time.Second, "the wrap-up form for Ida, the composer gone", fmt.Sprintf(`(() => {
			const v = document.querySelector('[data-testid="contact-view"][data-contact=%q]');
			return v && v.querySelector('[data-testid="wrapup-form"]') && v.querySelector('[data-testid="composer"]').hidden
				&& document.querySelector('[data-testid="contact-tab"][data-contact=%q]').textContent.includes('Wrap-up'); })()`, ic.ID, ic.ID))
		if toast := mustEval[string](b, `[...document.querySelectorAll('.toast')].map((t) => t.textContent).join(' | ')`); !strings.Contains(toast, "Ida left the conversation") {
			t.Errorf("toasts %q, want one saying Ida left", toast)
		}
		// Saving without a code is refused in the page.
		b.click("wrapup-save")
		b.waitJS(5*time.Second, "the missing code reported", `(() => { const e = document.querySelector('[data-testid="wrapup-error"]'); return e && !e.hidden && document.activeElement?.dataset.testid === 'wrapup-code'; })()`)
		b.typeInto("wrapup-code", "visitor_left")
		b.click("wrapup-save")
		b.waitJS(10*time.Second, "Ida's contact gone", `!document.querySelector('[data-testid="contact-tab"]')`)
		var got protocol.ContactView
		apiCall(t, srv, "GET", "/api/v1/contact/contacts/"+ic.ID, bobToken, "", nil, http.StatusOK, &got)
		if got.WrapUpCode != "visitor_left" {
			t.Errorf("Ida's contact's wrap-up code is %q, want visitor_left", got.WrapUpCode)
		}
	})

	t.Run("SeveralChats", func(t *testing.T) {
		setT(t, b)
		ona, pia := newVisitor(outer, srv, "Ona", ""), newVisitor(outer, srv, "Pia", "")
		oc, pc := ona.arrive("chat", "https://shop.example/a", ""), pia.arrive("chat", "https://shop.example/b", "")
		b.waitJS(15*time.Second, "two offers ringing", `document.querySelectorAll('[data-testid="offer"]').length === 2 && document.title.startsWith('(2) Ringing')`)
		for _, c := range []protocol.ContactView{oc, pc} {
			b.do(10*time.Second, "accepting "+c.Visitor.Name, chromedp.Click(chromedp.CSS(offer(c.ID)+` [data-testid="offer-accept"]`)))
			b.waitJS(10*time.Second, "the contact open", fmt.Sprintf(`document.querySelector('[data-testid="contact-view"][data-contact=%q] [data-testid="composer-input"]')`, c.ID))
		}
		// Pia's tab is selected; Ona writes: her tab counts it.
		ona.say(oc.Conversation, "Are you there?")
		onaTab := fmt.Sprintf(`[data-testid="contact-tab"][data-contact=%q]`, oc.ID)
		b.waitJS(10*time.Second, "the unread count on Ona's tab", `document.querySelector(`+jsString(onaTab+` [data-testid="contact-unread"]`)+`)?.textContent === '1'`)
		// The keyboard: from Pia's tab, the arrow key goes to Ona's, which shows her message.
		b.do(5*time.Second, "focusing Pia's tab", chromedp.Focus(chromedp.CSS(fmt.Sprintf(`[data-testid="contact-tab"][data-contact=%q]`, pc.ID))))
		b.do(5*time.Second, "pressing the up arrow", chromedp.KeyEvent(kb.ArrowUp))
		b.waitJS(10*time.Second, "Ona's conversation with her message", fmt.Sprintf(`document.activeElement?.dataset.contact === %q
			&& document.querySelector('[data-testid="contact-view"][data-contact=%q]')
			&& [...document.querySelectorAll('[data-testid="contact-view"] [data-testid="message-text"]')].some((m) => m.textContent === 'Are you there?')
			&& !document.querySelector(%s)`, oc.ID, oc.ID, jsString(onaTab+` [data-testid="contact-unread"]`)))
		b.send("Yes, Ona, one moment.")
		eventually(t, 10*time.Second, "Ona hearing back", func() (bool, string) { return ona.heard("Yes, Ona, one moment."), "not yet" })
		if pia.heard("Yes, Ona, one moment.") {
			t.Errorf("Pia got the message meant for Ona")
		}
		// Both end; both wrap up.
		for _, c := range []protocol.ContactView{oc, pc} {
			b.do(5*time.Second, "selecting "+c.Visitor.Name, chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="contact-tab"][data-contact=%q]`, c.ID))))
			b.waitJS(5*time.Second, "its view", fmt.Sprintf(`document.querySelector('[data-testid="contact-view"][data-contact=%q]')`, c.ID))
			b.click("contact-end")
			b.waitJS(10*time.Second, "the wrap-up form", `document.activeElement?.dataset.testid === 'wrapup-code'`)
			b.typeInto("wrapup-code", "resolved")
			b.click("wrapup-save")
			b.waitJS(10*time.Second, "the contact gone", fmt.Sprintf(`!document.querySelector('[data-testid="contact-tab"][data-contact=%q]')`, c.ID))
		}
	})

	t.Run("OfferTimesOut", func(t *testing.T) {
		setT(t, b)
		apiCall(t, srv, "PUT", "/api/v1/contact/queues/sales", annToken, "", map[string]any{
			"name": "Sales", "members": []map[string]any{{"user": bob.ID}}, "media": []string{"chat", "voice", "video"}, "offerTimeoutSeconds": 2,
		}, http.StatusOK, nil)
		zoe := newVisitor(outer, srv, "Zoe", "")
		zc := zoe.arrive("chat", "https://shop.example/", "")
		b.waitJS(15*time.Second, "Zoe's offer", `document.querySelector(`+jsString(offer(zc.ID))+`)`)
		b.waitJS(15*time.Second, "the offer gone when its time ran out, the ring stopped", `!document.querySelector(`+jsString(offer(zc.ID))+`) && !window.__sbConsole.ringer.ringing`)
		b.waitJS(5*time.Second, "the console saying so", `[...document.querySelectorAll('.toast')].some((t) => t.textContent === 'The offer from Zoe was not answered in time.')`)
		t.Logf("Bob's status after the missed offer: %s", mustEval[string](b, `document.querySelector('[data-testid="console-page"]').dataset.agentState`))
		zoe.leave(zc.ID)
	})

	t.Run("MemberRefused", func(t *testing.T) {
		setT(t, b)
		// An agent is no supervisor.
		b.navigate(srv.URL + "/supervisor")
		b.waitJS(15*time.Second, "the dashboard refused to an agent", `document.querySelector('[data-testid="not-allowed"]')?.textContent.includes('Only admins')`)
		// An admin makes Bob a member: his socket reconnects with the new role.
		apiCall(t, srv, "PATCH", "/api/v1/users/"+bob.ID, annToken, "", map[string]string{"role": "member"}, http.StatusOK, nil)
		b.waitJS(15*time.Second, "Bob's page knowing he is a member", `window.__sbChat.me?.role === 'member' && window.__sbChat.state === 'connected'`)
		b.navigate(srv.URL + "/")
		b.waitJS(15*time.Second, "the workspace", `document.querySelector('[data-testid="workspace"]') && window.__sbChat?.state === 'connected'`)
		if shown := mustEval[bool](b, `['open-console','open-supervisor'].some((id) => document.querySelector('[data-testid="' + id + '"]')?.offsetParent != null)`); shown {
			t.Errorf("a member sees the contact centre's entries")
		}
		// Following an old link to the console within the app: refused, with a way back.
		mustEval[bool](b, `(history.pushState({}, '', '/console'), dispatchEvent(new PopStateEvent('popstate')), true)`)
		b.waitJS(10*time.Second, "the console refused", `document.querySelector('[data-testid="not-allowed"]')?.textContent.includes('agent role')`)
	})
	t.Logf("TestConsoleOffer took %v", time.Since(start).Round(time.Millisecond))
}

// jsString quotes s for JavaScript.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// agentOffer waits until the agent's view (GET /api/v1/contact/agent) shows the contact offered.
func agentOffer(t *testing.T, srv *server, token, contact string) {
	t.Helper()
	eventually(t, 10*time.Second, "the offer of "+contact, func() (bool, string) {
		var av protocol.AgentView
		apiCall(t, srv, "GET", "/api/v1/contact/agent", token, "", nil, http.StatusOK, &av)
		for _, o := range av.Offers {
			if o.ID == contact {
				return true, ""
			}
		}
		return false, fmt.Sprintf("state %s, %d offers", av.State, len(av.Offers))
	})
}

// TestSupervisorDashboard drives the supervisor dashboard with real contacts behind it. Bob (agent,
// through the API) answers two visitors and ends both (one wrapped up), a third leaves while her
// offer rings (abandoned), and a fourth waits while Bob is paused. Ann (admin) opens the dashboard
// from the workspace: the live tables show the waiting visitor and Bob paused, and follow when Bob
// becomes available (polling). The report of the last seven days per day draws its charts as SVG
// with one bar per day and series (4 arrived, 2 answered, 1 abandoned in all), rate points only
// where contacts arrived, totals as figures and a table for screen readers; per hour over today it
// draws 24 bars a series, and its Download CSV link gets the same numbers as CSV rows. Filtered to
// a queue nobody called, the totals are zero.
func TestSupervisorDashboard(t *testing.T) {
	chromiumPath(t)
	start := time.Now()
	srv := startServer(t, nil)
	ann := createUser(t, srv, "ann", "Ann", account.RoleAdmin)
	bob := createUser(t, srv, "bob", "Bob", account.RoleAgent)
	annToken, bobToken := apiToken(t, srv, ann.ID), apiToken(t, srv, bob.ID)
	contactSetup(t, srv, annToken, bob.ID)
	setState := func(state string) {
		t.Helper()
		apiCall(t, srv, "PUT", "/api/v1/contact/agent/state", bobToken, "", map[string]string{"state": state}, http.StatusOK, nil)
	}
	setState("available")
	serve := func(name string, wrapUp bool) {
		t.Helper()
		v := newVisitor(t, srv, name, "")
		c := v.arrive("chat", "https://shop.example/", "")
		v.say(c.Conversation, "Hello")
		agentOffer(t, srv, bobToken, c.ID)
		apiCall(t, srv, "POST", "/api/v1/contact/contacts/"+c.ID+"/accept", bobToken, "", nil, http.StatusOK, nil)
		apiCall(t, srv, "POST", "/api/v1/contact/contacts/"+c.ID+"/end", bobToken, "", nil, http.StatusOK, nil)
		if wrapUp {
			apiCall(t, srv, "POST", "/api/v1/contact/contacts/"+c.ID+"/wrapup", bobToken, "", map[string]string{"code": "sale"}, http.StatusOK, nil)
		}
	}
	serve("Uma", true)
	serve("Vic", false)
	w := newVisitor(t, srv, "Wen", "")
	wc := w.arrive("chat", "https://shop.example/", "")
	agentOffer(t, srv, bobToken, wc.ID)
	w.leave(wc.ID)
	setState("paused")
	x := newVisitor(t, srv, "Xia", "")
	xc := x.arrive("chat", "https://shop.example/", "")
	t.Logf("contacts seeded after %v", time.Since(start).Round(time.Millisecond))

	a := newBrowser(t, "Ann")
	a.signIn(srv.URL, "ann")
	const sales = `[data-testid="live-queue"][data-queue="sales"]`
	bobRow := fmt.Sprintf(`[data-testid="live-agent"][data-user=%q]`, bob.ID)

	t.Run("Live", func(t *testing.T) {
		setT(t, a)
		a.waitJS(10*time.Second, "the Supervisor entry", `document.querySelector('[data-testid="open-supervisor"]')?.offsetParent !== null`)
		a.click("open-supervisor")
		a.waitJS(15*time.Second, "the live queues", `location.pathname === '/supervisor' && document.querySelector(`+jsString(sales)+`)`)
		a.waitJS(10*time.Second, "Xia waiting and Bob paused", `document.querySelector(`+jsString(sales+` [data-testid="queue-waiting"]`)+`).textContent === '1'
			&& document.querySelector(`+jsString(bobRow)+`)?.dataset.state === 'paused'`)
		got := mustEval[map[string]any](a, `(() => {
			const q = document.querySelector(`+jsString(sales)+`);
			return { longest: q.querySelector('[data-testid="queue-longest"]').textContent, agents: q.lastElementChild.textContent,
				bob: document.querySelector(`+jsString(bobRow)+`).textContent, updated: document.querySelector('[data-testid="live-updated"]').textContent };
		})()`)
		if l, _ := got["longest"].(string); !strings.HasSuffix(l, " s") && !strings.Contains(l, "min") {
			t.Errorf("longest wait %q, want a duration", l)
		}
		if got["agents"] != "1 paused" {
			t.Errorf("the sales queue's agents: %q, want 1 paused", got["agents"])
		}
		if b, _ := got["bob"].(string); !strings.Contains(b, "Bob") || !strings.Contains(b, "Paused") {
			t.Errorf("Bob's row: %q", b)
		}
		if u, _ := got["updated"].(string); !strings.HasPrefix(u, "Live · updated") {
			t.Errorf("the live stamp: %q", u)
		}
		// Polling: Bob available, Xia's offer rings; the page follows without a reload.
		setState("available")
		agentOffer(t, srv, bobToken, xc.ID)
		a.waitJS(10*time.Second, "Xia ringing and Bob available", `document.querySelector(`+jsString(sales+` [data-testid="queue-offered"]`)+`).textContent === '1'
			&& document.querySelector(`+jsString(sales+` [data-testid="queue-waiting"]`)+`).textContent === '0'
			&& document.querySelector(`+jsString(bobRow)+`)?.dataset.state === 'available'`)
	})

	// bars counts the bars of a chart's series and sums their values; points does the same for a line chart.
	type series struct {
		N   int     `json:"n"`
		Sum float64 `json:"sum"`
	}
	marks := func(chart, key, mark string) series {
		return mustEval[series](a, fmt.Sprintf(`(() => {
			const els = [...document.querySelectorAll('[data-testid=%q] svg g[data-series=%q] %s')];
			return { n: els.length, sum: els.reduce((s, e) => s + Number(e.dataset.value), 0) };
		})()`, chart, key, mark))
	}
	loaded := func() string {
		return mustEval[string](a, `document.querySelector('[data-testid="report-charts"]').dataset.loaded || ''`)
	}
	figure := func(id string) string {
		return mustEval[string](a, `document.querySelector('[data-testid="`+id+`"] .cc-figure-value').textContent`)
	}

	t.Run("ReportPerDay", func(t *testing.T) {
		setT(t, a)
		a.waitJS(15*time.Second, "the report of the last seven days", `document.querySelector('[data-testid="report-charts"]').dataset.loaded
			&& document.querySelectorAll('[data-testid="chart-volume"] svg rect.chart-bar').length === 21`)
		for _, s := range []struct {
			key  string
			want float64
		}{{"arrived", 4}, {"answered", 2}, {"abandoned", 1}} {
			if got := marks("chart-volume", s.key, "rect.chart-bar"); got.N != 7 || got.Sum != s.want {
				t.Errorf("volume, %s: %d bars adding up to %v; want 7 bars, %v", s.key, got.N, got.Sum, s.want)
			}
		}
		// Rates exist only where contacts arrived: today.
		if got := marks("chart-rates", "answerRate", "circle.chart-point"); got.N != 1 || got.Sum != 0.5 {
			t.Errorf("answer rate: %d points, value %v; want 1 point at 0.5", got.N, got.Sum)
		}
		if got := marks("chart-rates", "abandonRate", "circle.chart-point"); got.N != 1 || got.Sum != 0.25 {
			t.Errorf("abandon rate: %d points, value %v; want 1 point at 0.25", got.N, got.Sum)
		}
		if got := marks("chart-service", "serviceLevel", "circle.chart-point"); got.N != 1 {
			t.Errorf("service level: %d points, want 1", got.N)
		}
		if got := marks("chart-times", "avgWait", "rect.chart-bar"); got.N != 1 {
			t.Errorf("average wait: %d bars, want 1 (the day with answered contacts)", got.N)
		}
		for id, want := range map[string]string{"total-arrived": "4", "total-answered": "2", "total-abandoned": "1", "total-answer-rate": "50 %", "total-abandon-rate": "25 %"} {
			if got := figure(id); got != want {
				t.Errorf("figure %s: %q, want %q", id, got, want)
			}
		}
		tbl := mustEval[map[string]any](a, `(() => {
			const f = document.querySelector('[data-testid="chart-volume"]');
			const svg = f.querySelector('svg');
			return { rows: f.querySelectorAll('[data-testid="chart-table"] tbody tr').length, legend: f.querySelectorAll('.chart-legend li').length,
				ticks: f.querySelectorAll('.chart-y text').length, labels: f.querySelectorAll('.chart-x text').length,
				titled: !!f.querySelector('rect.chart-bar title')?.textContent, described: !!document.getElementById(svg.getAttribute('aria-describedby'))?.textContent,
				role: svg.getAttribute('role') };
		})()`)
		if tbl["rows"] != float64(7) || tbl["legend"] != float64(3) || tbl["role"] != "img" || tbl["titled"] != true || tbl["described"] != true {
			t.Errorf("the volume chart: %v; want a table of 7 rows, 3 legend entries, role img, titled bars, a description", tbl)
		}
		if n, _ := tbl["ticks"].(float64); n < 2 {
			t.Errorf("the volume chart has %v y ticks", n)
		}
		if n, _ := tbl["labels"].(float64); n < 4 {
			t.Errorf("the volume chart has %v x labels for 7 days", n)
		}
	})

	t.Run("ReportPerHourAndCSV", func(t *testing.T) {
		setT(t, a)
		before := loaded()
		a.selectValue(`[data-testid="report-bucket"]`, "hour")
		today := mustEval[string](a, `document.querySelector('[data-testid="report-to"]').value`)
		a.selectValue(`[data-testid="report-from"]`, today)
		a.click("report-run")
		a.waitJS(15*time.Second, "the hourly report", `document.querySelector('[data-testid="report-charts"]').dataset.loaded !== `+jsString(before))
		if got := marks("chart-volume", "arrived", "rect.chart-bar"); got.N != 24 || got.Sum != 4 {
			t.Errorf("volume per hour: %d bars adding up to %v; want 24, 4", got.N, got.Sum)
		}
		link := mustEval[map[string]any](a, `(() => { const l = document.querySelector('[data-testid="report-csv"]'); return { href: l.href, download: l.hasAttribute('download') }; })()`)
		href, _ := link["href"].(string)
		if !strings.Contains(href, "format=csv") || !strings.Contains(href, "bucket=hour") || link["download"] != true {
			t.Errorf("the CSV link: %v", link)
		}
		csvText := mustEval[string](a, `fetch(document.querySelector('[data-testid="report-csv"]').href).then((r) => r.ok && (r.headers.get('content-type') || '').startsWith('text/csv') ? r.text() : 'HTTP ' + r.status)`)
		lines := strings.Split(strings.TrimSpace(csvText), "\n")
		if len(lines) != 26 || !strings.HasPrefix(lines[0], "start,arrived,answered,abandoned") || !strings.HasPrefix(lines[25], "total,4,2,1,") {
			t.Errorf("the CSV has %d lines (want header + 24 hours + total = 26): first %q, last %q", len(lines), lines[0], lines[len(lines)-1])
		}
	})

	t.Run("QueueFilter", func(t *testing.T) {
		setT(t, a)
		before := loaded()
		a.selectValue(`[data-testid="report-queue"]`, "support")
		a.click("report-run")
		a.waitJS(15*time.Second, "the report of support", `document.querySelector('[data-testid="report-charts"]').dataset.loaded !== `+jsString(before))
		if got := figure("total-arrived"); got != "0" {
			t.Errorf("arrived in support: %q, want 0", got)
		}
		if got := marks("chart-volume", "arrived", "rect.chart-bar"); got.Sum != 0 {
			t.Errorf("support's volume adds up to %v, want 0", got.Sum)
		}
		if href := mustEval[string](a, `document.querySelector('[data-testid="report-csv"]').href`); !strings.Contains(href, "queue=support") {
			t.Errorf("the CSV link %q does not follow the queue filter", href)
		}
	})
	t.Logf("TestSupervisorDashboard took %v", time.Since(start).Round(time.Millisecond))
}
