package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"switchboard/internal/account"
	"switchboard/internal/client"
	"switchboard/internal/protocol"
)

// setField replaces the value of a form control (an input, a textarea or a select) as a person
// who selects its text and types over it would, and lets the page know (input and change events).
func (b *browser) setField(css, value string) {
	b.t.Helper()
	mustEval[bool](b, fmt.Sprintf(`(() => {
		const el = document.querySelector(%q);
		if (!el) throw new Error('no field ' + %q);
		el.focus();
		el.value = %q;
		el.dispatchEvent(new Event('input', { bubbles: true }));
		el.dispatchEvent(new Event('change', { bubbles: true }));
		el.blur();
		return true;
	})()`, css, css, value))
}

// shot saves a screenshot when E2E_SHOTS names a folder (for looking at the pages).
func (b *browser) shot(name string) {
	if dir := os.Getenv("E2E_SHOTS"); dir != "" {
		b.screenshot(filepath.Join(dir, name+".png"))
	}
}

// TestContactSettings drives the contact settings as an admin setting up customer contact from
// nothing: Ann (admin) opens Contact settings from the workspace, creates the queue "Sales EU" with
// the agent Bob as its only member, durations typed as people write them, opening hours in
// Europe/Paris with a holiday, wrap-up codes and an overflow to a message; the server has exactly
// that. She creates a widget on it: an origin with a path is refused and the server's message is
// shown in the form; corrected, the widget is saved, listed on the portal, and its embed code is
// the script tag for this server. She gives Bob two chat slots. A queue a widget uses cannot be
// deleted (the server's refusal is said); the widget, then the queue, can.
func TestContactSettings(t *testing.T) {
	chromiumPath(t)
	srv := startServer(t, nil)
	ann := createUser(t, srv, "ann", "Ann", account.RoleAdmin)
	bob := createUser(t, srv, "bob", "Bob", account.RoleAgent)
	createUser(t, srv, "max", "Max", account.RoleMember)
	annToken := apiToken(t, srv, ann.ID)

	a := newBrowser(t, "Ann")
	a.signIn(srv.URL, "ann")
	a.waitJS(10*time.Second, "the Contact settings entry", `document.querySelector('[data-testid="open-contact-settings"]')?.offsetParent !== null`)
	a.click("open-contact-settings")
	a.waitJS(15*time.Second, "the settings loaded", `location.pathname === '/supervisor' && location.hash === '#settings'
		&& document.querySelector('[data-testid="settings-page"]')?.dataset.loaded === 'true'
		&& document.querySelector('[data-testid="nav-settings"]').getAttribute('aria-current') === 'page'`)
	// The agents' table lists the agents and admins, not the members.
	if got := mustEval[[]string](a, `[...document.querySelectorAll('[data-testid="agent-row"]')].map((r) => r.querySelector('th span').textContent)`); !reflect.DeepEqual(got, []string{"Ann", "Bob"}) {
		t.Errorf("the agents listed: %v, want Ann and Bob", got)
	}

	t.Run("CreateQueue", func(t *testing.T) {
		setT(t, a)
		a.click("queues-add")
		a.waitJS(5*time.Second, "the queue form, its name focused", `document.querySelector('[data-testid="queue-dialog"]') && document.activeElement?.dataset.testid === 'queue-name'`)
		a.typeInto("queue-name", "Sales EU")
		if id := mustEval[string](a, `document.querySelector('[data-testid="queue-id"]').value`); id != "sales-eu" {
			t.Errorf("the id made from the name: %q, want sales-eu", id)
		}
		// Only agents and admins can be members.
		if got := mustEval[int](a, `document.querySelectorAll('[data-testid="queue-member"]').length`); got != 2 {
			t.Errorf("%d people offered as members, want 2 (Ann and Bob, not Max)", got)
		}
		a.do(5*time.Second, "checking Bob", chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="queue-member"][data-user=%q]`, bob.ID))))
		a.selectValue(`[data-testid="queue-strategy"]`, "round_robin")
		a.do(5*time.Second, "adding voice", chromedp.Click(chromedp.CSS(`[data-testid="queue-media"][value="voice"]`)))
		a.setField(`[data-testid="queue-offer-timeout"]`, "45")
		a.setField(`[data-testid="queue-wrapup"]`, "1:30")
		if got := mustEval[string](a, `document.querySelector('[data-testid="queue-wrapup"]').value`); got != "1 min 30 s" {
			t.Errorf("1:30 shown back as %q, want 1 min 30 s", got)
		}
		a.setField(`[data-testid="queue-wrapup-codes"]`, "sale\nno sale\n")
		a.setField(`[data-testid="queue-max-wait"]`, "5 min")
		a.selectValue(`[data-testid="queue-overflow-to"]`, "message")
		a.do(5*time.Second, "unchecking Always open", chromedp.Click(tid("queue-always-open")))
		a.setField(`[data-testid="queue-timezone"]`, "Europe/Paris")
		a.setField(`[data-testid="queue-hours-mon"]`, "9-12:30, 13:30-18:00")
		a.click("queue-hours-copy")
		a.setField(`[data-testid="queue-hours-fri"]`, "09:00-16:00")
		a.setField(`[data-testid="queue-holidays"]`, "2026-12-25, 2027-01-01")
		a.shot("settings-queue-form")
		a.click("settings-save")
		a.waitJS(10*time.Second, "the queue in the list", `!document.querySelector('[data-testid="queue-dialog"]') && document.querySelector('[data-testid="queue-row"][data-queue="sales-eu"]')?.textContent.includes('Bob')`)

		var got struct{ Queues []map[string]any }
		apiCall(t, srv, "GET", "/api/v1/contact/queues", annToken, "", nil, http.StatusOK, &got)
		if len(got.Queues) != 1 {
			t.Fatalf("the server has %d queues, want 1: %v", len(got.Queues), got.Queues)
		}
		q := got.Queues[0]
		want := map[string]any{
			"id": "sales-eu", "name": "Sales EU", "strategy": "round_robin",
			"members":             []any{map[string]any{"user": bob.ID}},
			"media":               []any{"chat", "voice"},
			"offerTimeoutSeconds": 45.0, "wrapUpSeconds": 90.0, "maxWaitSeconds": 300.0, "maxLength": 0.0,
			"stickyWaitSeconds": 0.0, "serviceLevelSeconds": 20.0,
			"wrapUpCodes": []any{"sale", "no sale"},
			"overflow":    map[string]any{"to": "message"}, "afterHours": map[string]any{"to": ""},
			"hours": map[string]any{"timezone": "Europe/Paris", "holidays": []any{"2026-12-25", "2027-01-01"}, "days": map[string]any{
				"mon": []any{[]any{"09:00", "12:30"}, []any{"13:30", "18:00"}},
				"tue": []any{[]any{"09:00", "12:30"}, []any{"13:30", "18:00"}},
				"wed": []any{[]any{"09:00", "12:30"}, []any{"13:30", "18:00"}},
				"thu": []any{[]any{"09:00", "12:30"}, []any{"13:30", "18:00"}},
				"fri": []any{[]any{"09:00", "16:00"}},
			}},
		}
		for k, v := range want {
			if !reflect.DeepEqual(q[k], v) {
				t.Errorf("queue %s = %#v, want %#v", k, q[k], v)
			}
		}
	})

	t.Run("CreateWidget", func(t *testing.T) {
		setT(t, a)
		a.click("widgets-add")
		a.waitJS(5*time.Second, "the widget form", `document.querySelector('[data-testid="widget-dialog"]') && document.querySelector('[data-testid="widget-queue"]').value === 'sales-eu'`)
		a.setField(`[data-testid="widget-id"]`, "shop")
		a.setField(`[data-testid="widget-title"]`, "Talk to <b>Sales</b>")
		a.setField(`[data-testid="widget-origins"]`, "https://shop.example/contact")
		a.setField(`[data-testid="widget-consent"]`, "We keep this conversation for 30 days.")
		a.do(5*time.Second, "listing it on the portal", chromedp.Click(tid("widget-listed")))
		a.click("settings-save")
		a.waitJS(10*time.Second, "the server's refusal in the form", `(() => {
			const e = document.querySelector('[data-testid="widget-dialog"] [data-testid="settings-error"]');
			return e && !e.hidden && e.textContent.includes('allowed origin "https://shop.example/contact": write scheme and host'); })()`)
		a.shot("settings-widget-error")
		var none struct{ Widgets []any }
		apiCall(t, srv, "GET", "/api/v1/contact/widgets", annToken, "", nil, http.StatusOK, &none)
		if len(none.Widgets) != 0 {
			t.Errorf("a refused widget was stored: %v", none.Widgets)
		}
		a.setField(`[data-testid="widget-origins"]`, "https://shop.example\nhttp://localhost:8081")
		a.click("settings-save")
		a.waitJS(10*time.Second, "the embed code shown", `!document.querySelector('[data-testid="widget-dialog"]') && document.querySelector('[data-testid="embed-dialog"] [data-testid="widget-snippet"]')`)
		snippet := mustEval[string](a, `document.querySelector('[data-testid="widget-snippet"]').value`)
		if want := `<script src="` + srv.URL + `/widget.js" data-widget="shop" async></script>`; snippet != want {
			t.Errorf("the embed code: %s, want %s", snippet, want)
		}
		if href := mustEval[string](a, `document.querySelector('[data-testid="embed-portal"]').href`); href != srv.URL+"/contact" {
			t.Errorf("the portal link: %s, want %s/contact", href, srv.URL)
		}
		a.shot("settings-embed")
		a.click("embed-done")
		// The title is text, not markup.
		a.waitJS(5*time.Second, "the widget in the list", `document.querySelector('[data-testid="widget-row"][data-widget="shop"] th span')?.textContent === 'Talk to <b>Sales</b>' && !document.querySelector('[data-testid="widget-row"] b')`)

		var got struct{ Widgets []map[string]any }
		apiCall(t, srv, "GET", "/api/v1/contact/widgets", annToken, "", nil, http.StatusOK, &got)
		want := map[string]any{"id": "shop", "queue": "sales-eu", "title": "Talk to <b>Sales</b>", "listed": true,
			"allowedOrigins": []any{"https://shop.example", "http://localhost:8081"}, "consent": "We keep this conversation for 30 days."}
		if len(got.Widgets) != 1 {
			t.Fatalf("the server has %d widgets, want 1", len(got.Widgets))
		}
		for k, v := range want {
			if !reflect.DeepEqual(got.Widgets[0][k], v) {
				t.Errorf("widget %s = %#v, want %#v", k, got.Widgets[0][k], v)
			}
		}
	})

	t.Run("AgentProfile", func(t *testing.T) {
		setT(t, a)
		row := fmt.Sprintf(`[data-testid="agent-row"][data-user=%q]`, bob.ID)
		if got := mustEval[string](a, fmt.Sprintf(`document.querySelector(%q).textContent`, row)); !strings.Contains(got, "Sales EU") {
			t.Errorf("Bob's row %q does not name his queue", got)
		}
		a.do(5*time.Second, "editing Bob", chromedp.Click(chromedp.CSS(row+` [data-testid="agent-edit"]`)))
		a.waitJS(5*time.Second, "Bob's profile", `document.activeElement?.dataset.testid === 'agent-chat-slots'`)
		a.setField(`[data-testid="agent-chat-slots"]`, "2")
		a.setField(`[data-testid="agent-skills"]`, "german:2, billing")
		a.click("settings-save")
		a.waitJS(10*time.Second, "Bob's slots in the list", fmt.Sprintf(`!document.querySelector('[data-testid="agent-dialog"]') && document.querySelector(%q).querySelector('[data-testid="agent-slots"]').textContent === '2'`, row))
		var got struct {
			Agents []struct {
				User      string
				ChatSlots int
				Skills    map[string]int
			}
		}
		apiCall(t, srv, "GET", "/api/v1/contact/agents", annToken, "", nil, http.StatusOK, &got)
		if len(got.Agents) != 1 || got.Agents[0].User != bob.ID || got.Agents[0].ChatSlots != 2 || !reflect.DeepEqual(got.Agents[0].Skills, map[string]int{"german": 2, "billing": 1}) {
			t.Errorf("the agent profiles: %+v, want Bob's with 2 slots, german 2 and billing 1", got.Agents)
		}
	})

	t.Run("PhoneWidth", func(t *testing.T) {
		setT(t, a)
		a.do(10*time.Second, "a phone-sized window", chromedp.EmulateViewport(390, 800))
		a.waitJS(5*time.Second, "no page-wide horizontal scroll", `document.documentElement.scrollWidth <= 390`)
		a.shot("settings-phone")
		a.do(5*time.Second, "editing the queue", chromedp.Click(chromedp.CSS(`[data-testid="queue-row"][data-queue="sales-eu"] [data-testid="queue-edit"]`)))
		a.waitJS(5*time.Second, "the queue form fits", `(() => { const d = document.querySelector('[data-testid="queue-dialog"]'); return d && d.getBoundingClientRect().width <= 390 && d.scrollWidth <= d.clientWidth + 1; })()`)
		a.shot("settings-phone-queue")
		a.click("settings-cancel")
		a.do(10*time.Second, "a desktop window again", chromedp.EmulateViewport(1280, 900))
	})

	t.Run("Delete", func(t *testing.T) {
		setT(t, a)
		a.do(5*time.Second, "deleting the queue", chromedp.Click(chromedp.CSS(`[data-testid="queue-row"][data-queue="sales-eu"] [data-testid="queue-delete"]`)))
		a.click("confirm-ok")
		a.waitJS(10*time.Second, "the refusal said", `[...document.querySelectorAll('.toast')].some((t) => t.textContent.includes('widget "shop" uses this queue'))`)
		a.do(5*time.Second, "deleting the widget", chromedp.Click(chromedp.CSS(`[data-testid="widget-row"][data-widget="shop"] [data-testid="widget-delete"]`)))
		a.click("confirm-ok")
		a.waitJS(10*time.Second, "the widget gone", `!document.querySelector('[data-testid="widget-row"]')`)
		a.do(5*time.Second, "deleting the queue", chromedp.Click(chromedp.CSS(`[data-testid="queue-row"][data-queue="sales-eu"] [data-testid="queue-delete"]`)))
		a.click("confirm-ok")
		a.waitJS(10*time.Second, "the queue gone", `!document.querySelector('[data-testid="queue-row"]')`)
		var got struct{ Queues []any }
		apiCall(t, srv, "GET", "/api/v1/contact/queues", annToken, "", nil, http.StatusOK, &got)
		if len(got.Queues) != 0 {
			t.Errorf("queues left on the server: %v", got.Queues)
		}
	})
}

// TestConsoleTransferAndCodes drives the console's transfer to a colleague and the queue's
// wrap-up codes. Bob answers in the browser; his colleague Cara is played through the API (her
// status, her socket). Sales has the codes sale and no sale. Bob accepts a visitor and opens
// Transfer: it lists the other queue and Cara with her state. Cara is offline: the server's 409
// is said in the dialog. Once she is available, the transfer goes through: the contact leaves
// Bob's list and is Cara's on the server. Bob accepts a second visitor and ends the contact: the
// wrap-up form offers the queue's codes as choices; the one he picks is recorded.
func TestConsoleTransferAndCodes(t *testing.T) {
	chromiumPath(t)
	srv := startServer(t, nil)
	ann := createUser(t, srv, "ann", "Ann", account.RoleAdmin)
	bob := createUser(t, srv, "bob", "Bob", account.RoleAgent)
	cara := createUser(t, srv, "cara", "Cara", account.RoleAgent)
	annToken, caraToken := apiToken(t, srv, ann.ID), apiToken(t, srv, cara.ID)
	contactSetup(t, srv, annToken, bob.ID)
	// Sales: Bob, with wrap-up codes; Support: Cara.
	apiCall(t, srv, "PUT", "/api/v1/contact/queues/sales", annToken, "", map[string]any{
		"name": "Sales", "members": []map[string]any{{"user": bob.ID}}, "media": []string{"chat"},
		"offerTimeoutSeconds": 60, "wrapUpCodes": []string{"sale", "no sale"},
	}, http.StatusOK, nil)
	apiCall(t, srv, "PUT", "/api/v1/contact/queues/support", annToken, "", map[string]any{
		"name": "Support", "members": []map[string]any{{"user": cara.ID}}, "media": []string{"chat"}, "offerTimeoutSeconds": 60,
	}, http.StatusOK, nil)

	b := newBrowser(t, "Bob")
	b.signIn(srv.URL, "bob")
	b.openConsole()
	b.setAgentState("available")
	offer := func(id string) string { return fmt.Sprintf(`[data-testid="offer"][data-contact=%q]`, id) }

	v := newVisitor(t, srv, "Vera", "vera@example.com")
	c := v.arrive("chat", shop+"/pricing", "")
	b.waitJS(15*time.Second, "Vera's offer", `document.querySelector(`+jsString(offer(c.ID))+`)`)
	b.click("offer-accept")
	b.waitJS(10*time.Second, "Vera's contact open", fmt.Sprintf(`document.querySelector('[data-testid="contact-view"][data-contact=%q] [data-testid="composer-input"]')`, c.ID))

	t.Run("ColleagueOffline", func(t *testing.T) {
		setT(t, b)
		b.click("contact-transfer")
		b.waitJS(10*time.Second, "the transfer dialog with Cara", fmt.Sprintf(`document.querySelector('[data-testid="transfer-dialog"] [data-testid="transfer-agent"][value=%q]')`, cara.ID))
		got := mustEval[map[string]any](b, `({
			queues: [...document.querySelectorAll('[data-testid="transfer-queue"]')].map((r) => r.value + ':' + r.closest('label').textContent),
			agents: [...document.querySelectorAll('[data-testid="transfer-agent"]')].map((r) => r.closest('label').textContent),
			state: document.querySelector('[data-testid="transfer-agent"]').closest('label').querySelector('[data-state]')?.dataset.state,
		})`)
		if fmt.Sprint(got["queues"]) != "[support:Support]" || fmt.Sprint(got["agents"]) != "[CaraOffline]" || got["state"] != "offline" {
			t.Errorf("the transfer dialog: %v; want the queue Support and Cara, offline", got)
		}
		b.do(5*time.Second, "choosing Cara", chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="transfer-agent"][value=%q]`, cara.ID))))
		b.click("transfer-confirm")
		b.waitJS(10*time.Second, "the server's refusal in the dialog", `(() => {
			const e = document.querySelector('[data-testid="transfer-dialog"] [data-testid="transfer-error"]');
			return e && !e.hidden && e.textContent.includes('Cara is offline'); })()`)
		b.shot("console-transfer-refused")
		if n := mustEval[int](b, fmt.Sprintf(`document.querySelectorAll('[data-testid="contact-tab"][data-contact=%q]').length`, c.ID)); n != 1 {
			t.Errorf("after the refusal Vera's tab is there %d times, want once", n)
		}
		b.click("dialog-close")
	})

	t.Run("ToColleague", func(t *testing.T) {
		setT(t, b)
		// Cara comes online: her socket, then her status.
		ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1/connect"
		m, err := client.DialMessenger(context.Background(), ws, http.Header{"Authorization": {"Bearer " + caraToken}}, func(protocol.Message) {})
		if err != nil {
			t.Fatalf("Cara's socket: %v", err)
		}
		t.Cleanup(m.Drop)
		apiCall(t, srv, "PUT", "/api/v1/contact/agent/state", caraToken, "", map[string]string{"state": "available"}, http.StatusOK, nil)
		b.click("contact-transfer")
		b.waitJS(10*time.Second, "Cara available in the dialog", fmt.Sprintf(`document.querySelector('[data-testid="transfer-agent"][value=%q]')?.closest('label').querySelector('[data-state]').dataset.state === 'available'`, cara.ID))
		b.do(5*time.Second, "choosing Cara", chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="transfer-agent"][value=%q]`, cara.ID))))
		if hint := mustEval[string](b, `document.querySelector('[data-testid="transfer-hint"]').textContent`); !strings.Contains(hint, "Cara joins the conversation now") {
			t.Errorf("the hint for a colleague: %q", hint)
		}
		b.click("transfer-confirm")
		b.waitJS(10*time.Second, "Vera gone from Bob's contacts", fmt.Sprintf(`!document.querySelector('[data-testid="transfer-dialog"]') && !document.querySelector('[data-testid="contact-tab"][data-contact=%q]')`, c.ID))
		var got protocol.ContactView
		apiCall(t, srv, "GET", "/api/v1/contact/contacts/"+c.ID, annToken, "", nil, http.StatusOK, &got)
		if got.Agent != cara.ID || got.Status != "in_progress" {
			t.Errorf("after the transfer the contact is %s with %q, want in_progress with Cara (%s)", got.Status, got.Agent, cara.ID)
		}
		var caraView protocol.AgentView
		apiCall(t, srv, "GET", "/api/v1/contact/agent", caraToken, "", nil, http.StatusOK, &caraView)
		if len(caraView.Contacts) != 1 || caraView.Contacts[0].ID != c.ID {
			t.Errorf("Cara's contacts: %+v, want Vera's", caraView.Contacts)
		}
	})

	t.Run("WrapUpCodes", func(t *testing.T) {
		setT(t, b)
		w := newVisitor(t, srv, "Will", "")
		wc := w.arrive("chat", shop+"/", "")
		b.waitJS(15*time.Second, "Will's offer", `document.querySelector(`+jsString(offer(wc.ID))+`)`)
		b.click("offer-accept")
		b.waitJS(10*time.Second, "Will's contact open", fmt.Sprintf(`document.querySelector('[data-testid="contact-view"][data-contact=%q] [data-testid="composer-input"]')`, wc.ID))
		b.click("contact-end")
		b.waitJS(10*time.Second, "the wrap-up form with the queue's codes", `(() => {
			const s = document.querySelector('[data-testid="wrapup-code"]');
			return s && s.tagName === 'SELECT' && document.activeElement === s; })()`)
		if got := mustEval[[]string](b, `[...document.querySelectorAll('[data-testid="wrapup-code"] option')].map((o) => o.value)`); !reflect.DeepEqual(got, []string{"", "sale", "no sale"}) {
			t.Errorf("the wrap-up choices: %q, want none chosen, sale, no sale", got)
		}
		// Pending on the server: a reload brings the form back.
		b.navigate(srv.URL + "/console")
		b.waitJS(15*time.Second, "the wrap-up form after a reload", fmt.Sprintf(`document.querySelector('[data-testid="contact-view"][data-contact=%q] select[data-testid="wrapup-code"]')`, wc.ID))
		b.shot("console-wrapup-codes")
		b.click("wrapup-save")
		b.waitJS(5*time.Second, "asked to choose", `(() => { const e = document.querySelector('[data-testid="wrapup-error"]'); return e && !e.hidden && e.textContent === 'Choose a wrap-up code.'; })()`)
		b.selectValue(`[data-testid="wrapup-code"]`, "no sale")
		b.click("wrapup-save")
		b.waitJS(10*time.Second, "Will's contact gone", `!document.querySelector('[data-testid="contact-tab"]')`)
		var got protocol.ContactView
		apiCall(t, srv, "GET", "/api/v1/contact/contacts/"+wc.ID, annToken, "", nil, http.StatusOK, &got)
		if got.WrapUpCode != "no sale" {
			t.Errorf("Will's wrap-up code is %q, want no sale", got.WrapUpCode)
		}
		var view protocol.AgentView
		apiCall(t, srv, "GET", "/api/v1/contact/agent", apiToken(t, srv, bob.ID), "", nil, http.StatusOK, &view)
		if len(view.WrapUps) != 0 {
			t.Errorf("Bob still has wrap-ups pending: %+v", view.WrapUps)
		}
	})
}
