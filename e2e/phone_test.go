package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"switchboard/internal/config"
	"switchboard/internal/store"
)

// phoneStats is the inbound audio of the dialer's call: packets and energy.
const phoneStats = `(async () => {
	const call = window.__sbPhonePage && window.__sbPhonePage.call;
	if (!call || !call.room) return [0, 0];
	let packets = 0, energy = 0;
	for (const pc of call.room.pcs) {
		const st = await pc.getStats();
		st.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'audio') { packets += s.packetsReceived || 0; energy += s.totalAudioEnergy || 0; } });
	}
	return [packets, energy]; })()`

// The dialer calls a desk phone: Ann opens it from the workspace's sidebar,
// types 2 and presses 0 0 on its keypad, and calls. The SDK's browser phone
// (client.phone.call) publishes her microphone and plays the phone's audio:
// she hears the phone (sipp's G.711) and the phone hears her; the phone's
// key 1 reaches her call, and the keys she presses on the in-call keypad
// reach the phone as RFC 4733 events. She hangs up: the phone gets the BYE.
// Then the call is in her history and in the admins' call records.
func TestDialerCallsPhone(t *testing.T) {
	sipp, dir := sippPhone(t)
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
	})
	createUser(t, srv, "ann", "Ann", "admin")
	ben := createUser(t, srv, "ben", "Ben", "member")
	ctx, cancel := context.WithTimeout(context.Background(), scaled(90*time.Second))
	defer cancel()
	phone := startDeskPhoneWith(t, ctx, srv, sipp, dir, "pbx.test", "200", "Front desk", "front desk phone", ben.ID,
		"uas_answer_pcma_hold.xml") // also answers a hold and a resume, checking their directions

	b := newBrowser(t, "Ann")
	b.signIn(srv.URL, "ann")
	b.waitJS(10*time.Second, "the Phone link in the sidebar", `(() => { const a = document.querySelector('[data-testid="open-phone"]'); return a && !a.closest('[hidden]'); })()`)
	b.click("open-phone")
	b.waitJS(10*time.Second, "the dialer", `location.pathname === '/phone' && document.querySelector('[data-testid="dialer"]')`)
	b.typeInto("dial-number", "2")
	b.do(10*time.Second, "pressing 0 0 on the keypad",
		chromedp.Click(`[data-testid="dial-keypad"] [data-key="0"]`), chromedp.Click(`[data-testid="dial-keypad"] [data-key="0"]`))
	if v := mustEval[string](b, `document.querySelector('[data-testid="dial-number"]').value`); v != "200" {
		t.Fatalf("the number field says %q", v)
	}
	b.click("dial-call")
	b.waitJS(20*time.Second, "the call connected", `document.querySelector('[data-testid="in-call-state"]')?.dataset.state === 'active'`)
	b.shot("phone-in-call")
	if name := mustEval[string](b, `document.querySelector('[data-testid="in-call-name"]').textContent`); name != "200" {
		t.Errorf("in-call name %q", name)
	}

	eventually(t, scaled(15*time.Second), "Ann to hear the phone", func() (bool, string) {
		v, err := eval[[]float64](b, phoneStats)
		if err != nil || len(v) != 2 {
			return false, fmt.Sprint(err)
		}
		return v[0] >= 40 && v[1] > 0, fmt.Sprintf("packets %v, energy %v", v[0], v[1])
	})
	if !mustEval[bool](b, `(() => { const a = document.querySelector('audio[data-phone-call]'); return !!a && !!a.srcObject && a.srcObject.getAudioTracks().length === 1; })()`) {
		t.Error("the phone call plays no audio element")
	}
	phoneHears(t, srv, 50)
	b.waitJS(10*time.Second, "the phone's key in the call", `window.__sbPhonePage.call.keys === '1'`)

	// Keypad tones from the in-call keypad.
	b.click("in-call-keypad")
	b.do(10*time.Second, "pressing 1 and 5 on the in-call keypad",
		chromedp.Click(`[data-testid="in-call-dtmf"] [data-key="1"]`), chromedp.Sleep(300*time.Millisecond),
		chromedp.Click(`[data-testid="in-call-dtmf"] [data-key="5"]`))
	eventually(t, scaled(10*time.Second), "Ann's key presses at the phone", func() (bool, string) {
		n := metric(t, srv, "switchboard_sip_dtmf_keys_out_total")
		return n >= 2, "keys to the phone: " + strconv.FormatFloat(n, 'f', 0, 64)
	})
	if keys := mustEval[string](b, `document.querySelector('[data-testid="in-call-keys"]').textContent`); keys != "15" {
		t.Errorf("keys shown %q", keys)
	}

	// Hold and resume: re-INVITEs the phone answers (sipp checks a=sendonly,
	// then a=sendrecv).
	b.click("in-call-hold")
	b.waitJS(10*time.Second, "held", `document.querySelector('[data-testid="in-call-state"]').dataset.state === 'held'`)
	if p := mustEval[string](b, `document.querySelector('[data-testid="in-call-hold"]').getAttribute('aria-pressed')`); p != "true" {
		t.Errorf("hold button pressed=%s while held", p)
	}
	b.click("in-call-hold")
	b.waitJS(10*time.Second, "resumed", `document.querySelector('[data-testid="in-call-state"]').dataset.state === 'active'`)

	// Ann hangs up: the phone gets its BYE, the dialer comes back.
	b.click("in-call-hangup")
	phone.waitBye(t, ctx)
	b.waitJS(10*time.Second, "the dialer again", `!document.querySelector('[data-testid="dialer"]').hidden && document.querySelector('[data-testid="in-call"]').hidden`)
	b.waitJS(5*time.Second, "no audio element left", `!document.querySelector('audio[data-phone-call]')`)

	// The call detail record: written when the SIP leg ended.
	var got bool
	deadline := time.Now().Add(scaled(10 * time.Second))
	for time.Now().Before(deadline) && !got {
		n, err := eval[int](b, `fetch('/api/v1/me/calls').then((r) => r.json()).then((d) => d.calls.length)`)
		got = err == nil && n > 0
		if !got {
			time.Sleep(300 * time.Millisecond)
		}
	}
	if !got {
		t.Fatal("no call detail record arrived in Ann's history")
	}
	b.waitJS(10*time.Second, "the call in Ann's history", `[...document.querySelectorAll('[data-testid="history-row"]')].some((r) => r.dataset.direction === 'outgoing' && r.querySelector('[data-testid="history-peer"]').textContent === '200')`)
	b.navigate(srv.URL + "/telephony#records")
	b.waitJS(10*time.Second, "the call in the admins' records", `[...document.querySelectorAll('[data-testid="rec-row"]')].some((r) => r.dataset.outcome === 'answered' && r.querySelector('[data-testid="rec-to-cell"]').textContent === '200')`)
}

// The dialer's history and the telephony admin page, from stored records:
// what phones chose (a display name with markup) shows as text; the history
// calls back; pasted numbers are normalised; the records filter, export and
// chart; SIP accounts are added, disabled, given a new password and deleted
// from the page; members cannot open it; the dialer fits a phone's width.
func TestTelephonyPages(t *testing.T) {
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
	})
	ann := createUser(t, srv, "ann", "Ann", "admin")
	createUser(t, srv, "ben", "Ben", "member")
	now := time.Now().UTC().Truncate(time.Second)
	evil := `<img src=x onerror="window.__xss=1">`
	for _, r := range []store.CallRecord{
		{ID: "cdr_a", CallID: "a@x", Direction: "outbound", From: "ann", FromName: "Ann", To: "200", FromUserID: ann.ID,
			Started: now.Add(-2 * time.Hour), Answered: now.Add(-2*time.Hour + 3*time.Second), Ended: now.Add(-2*time.Hour + 68*time.Second),
			Outcome: "answered", Status: 200, Cause: "local-hangup", Codec: "PCMA", PacketsSent: 3250, PacketsReceived: 3240, PacketsLost: 16, JitterMillis: 3.2},
		{ID: "cdr_b", CallID: "b@x", Direction: "inbound", From: "+15551234567", FromName: evil, To: "ann", ToUserID: ann.ID,
			Started: now.Add(-time.Hour), Ended: now.Add(-time.Hour + 20*time.Second), Outcome: "no_answer", Status: 480},
		{ID: "cdr_c", CallID: "c@x", Direction: "outbound", From: "ben", To: "+4420", Started: now.Add(-30 * time.Minute),
			Ended: now.Add(-30 * time.Minute), Outcome: "failed", Status: 503},
	} {
		if err := srv.app.Store().AddCallRecord(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}

	b := newBrowser(t, "Ann")
	b.signIn(srv.URL, "ann")
	b.navigate(srv.URL + "/phone")
	b.waitJS(10*time.Second, "Ann's two calls", `document.querySelectorAll('[data-testid="history-row"]').length === 2`)
	peers := mustEval[[]string](b, `[...document.querySelectorAll('[data-testid="history-peer"]')].map((p) => p.textContent)`)
	if len(peers) != 2 || peers[0] != evil+" (+15551234567)" || peers[1] != "200" {
		t.Fatalf("history shows %q", peers)
	}
	if mustEval[bool](b, `!!window.__xss || !!document.querySelector('[data-testid="call-history"] img')`) {
		t.Fatal("a display name became markup")
	}
	if d := mustEval[string](b, `document.querySelector('[data-testid="history-duration"]').textContent`); !strings.Contains(d, "1:05") {
		t.Errorf("duration %q", d)
	}
	b.shot("phone-dialer")
	// Paste a formatted number: it is normalised.
	v := mustEval[string](b, `(() => {
		const input = document.querySelector('[data-testid="dial-number"]');
		input.value = ''; input.focus();
		const dt = new DataTransfer(); dt.setData('text', ' +1 (555) 765-4321 ');
		input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
		return input.value; })()`)
	if v != "+15557654321" {
		t.Fatalf("pasted number became %q", v)
	}
	// Calling back 200, which is not registered: the dialer says so.
	b.do(10*time.Second, "calling 200 back", chromedp.Click(`[data-testid="history-call"][data-number="200"]`))
	b.waitJS(10*time.Second, "the dial error", `(() => { const e = document.querySelector('[data-testid="dial-error"]'); return !e.hidden && e.textContent.includes('200'); })()`)
	if v := mustEval[string](b, `document.querySelector('[data-testid="dial-number"]').value`); v != "200" {
		t.Errorf("call back put %q in the number field", v)
	}
	// At a phone's width nothing overflows sideways.
	b.do(10*time.Second, "a phone-sized window", chromedp.EmulateViewport(390, 800))
	b.waitJS(5*time.Second, "the dialer fitting", `document.documentElement.scrollWidth <= 390 && document.querySelector('.cc-main').scrollWidth <= 390`)
	b.shot("phone-dialer-narrow")
	b.do(10*time.Second, "a desktop window again", chromedp.EmulateViewport(1280, 900))

	// The admin page: records.
	b.navigate(srv.URL + "/telephony")
	b.waitJS(10*time.Second, "three records", `document.querySelectorAll('[data-testid="rec-row"]').length === 3`)
	if from := mustEval[string](b, `document.querySelector('[data-testid="rec-row"][data-call-id="b@x"] [data-testid="rec-from-cell"]').textContent`); from != evil+" (+15551234567)" {
		t.Fatalf("record's caller shown as %q", from)
	}
	b.waitJS(5*time.Second, "the charts drawn", `document.querySelectorAll('[data-testid="chart-per-hour"] svg rect').length >= 3 && document.querySelectorAll('[data-testid="chart-loss"] svg rect').length >= 1`)
	b.shot("telephony-records")
	b.selectValue(`[data-testid="rec-outcome"]`, "no_answer")
	b.do(10*time.Second, "filtering", chromedp.Click(`.tel-filters button[type="submit"]`))
	b.waitJS(10*time.Second, "one unanswered call", `document.querySelectorAll('[data-testid="rec-row"]').length === 1 && document.querySelector('[data-testid="rec-row"]').dataset.outcome === 'no_answer'`)
	href := mustEval[string](b, `document.querySelector('[data-testid="rec-csv"]').href`)
	if !strings.Contains(href, "format=csv") || !strings.Contains(href, "outcome=no_answer") {
		t.Fatalf("CSV link %s", href)
	}
	lines := mustEval[int](b, `fetch(document.querySelector('[data-testid="rec-csv"]').href).then((r) => r.text()).then((t) => t.trim().split('\n').length)`)
	if lines != 2 {
		t.Fatalf("CSV has %d lines, want a header and one record", lines)
	}

	// SIP accounts: add one with a generated password, disable it, reset it, delete it.
	b.click("tab-accounts")
	b.waitJS(10*time.Second, "the accounts panel", `!document.querySelector('[data-testid="panel-accounts"]').hidden && location.hash === '#accounts'`)
	b.click("acc-add")
	b.typeInto("acc-username", "300")
	b.typeInto("acc-name", "Lobby")
	b.click("acc-save")
	b.waitJS(10*time.Second, "the generated password", `(document.querySelector('[data-testid="acc-password-value"]')?.textContent || '').length >= 10`)
	b.do(5*time.Second, "closing the password", chromedp.Click(`[data-testid="acc-password-dialog"] [data-testid="dialog-close"]`))
	b.waitJS(10*time.Second, "the account listed", `!!document.querySelector('[data-testid="acc-row"][data-username="300"]')`)
	b.shot("telephony-accounts")
	// A second one with the same extension: the server's message is shown in the form.
	b.click("acc-add")
	b.typeInto("acc-username", "300")
	b.click("acc-save")
	b.waitJS(10*time.Second, "the conflict message", `(() => { const e = document.querySelector('[data-testid="acc-form-error"]'); return e && !e.hidden && e.textContent.includes('already'); })()`)
	b.do(5*time.Second, "closing the form", chromedp.Click(`[data-testid="acc-dialog"] [data-testid="dialog-close"]`))
	b.do(10*time.Second, "disabling 300", chromedp.Click(`[data-testid="acc-row"][data-username="300"] [data-testid="acc-toggle"]`))
	b.waitJS(10*time.Second, "300 disabled", `document.querySelector('[data-testid="acc-row"][data-username="300"]').textContent.includes('Disabled')`)
	b.do(10*time.Second, "resetting the password", chromedp.Click(`[data-testid="acc-row"][data-username="300"] [data-testid="acc-password"]`))
	b.waitJS(10*time.Second, "a new password", `(document.querySelector('[data-testid="acc-password-value"]')?.textContent || '').length >= 10`)
	b.do(5*time.Second, "closing the password", chromedp.Click(`[data-testid="acc-password-dialog"] [data-testid="dialog-close"]`))
	b.do(10*time.Second, "deleting 300", chromedp.Click(`[data-testid="acc-row"][data-username="300"] [data-testid="acc-delete"]`))
	b.click("confirm-delete")
	b.waitJS(10*time.Second, "300 gone", `!document.querySelector('[data-testid="acc-row"][data-username="300"]')`)

	// Trunks and numbers, through the real API: a trunk added in the form
	// (an IP peer: nothing is dialled), a bad one refused with the server's
	// message, a number routed to Ann, relabelled.
	b.click("tab-trunks")
	b.waitJS(10*time.Second, "the empty trunks list", `!!document.querySelector('[data-testid="panel-trunks"] .tel-empty')`)
	addTrunk := func(name, host, prefixes string) {
		b.click("trunk-add")
		b.typeInto("trunk-name", name)
		b.typeInto("trunk-host", host)
		mustEval[bool](b, `(() => { const r = document.querySelector('[data-testid="trunk-register"]'); r.checked = false; return true; })()`)
		b.typeInto("trunk-inbound-ips", "203.0.113.0/24")
		b.typeInto("trunk-prefixes", prefixes)
		b.do(5*time.Second, "the call limit", chromedp.SetValue(tid("trunk-max-calls"), "10"))
		b.click("trunk-save")
	}
	addTrunk("Second", "bad host", "+44")
	b.shot("telephony-trunk-form")
	b.waitJS(10*time.Second, "the server's validation message", `(() => { const e = document.querySelector('[data-testid="trunk-form-error"]'); return e && !e.hidden && /host/.test(e.textContent); })()`)
	b.do(5*time.Second, "closing the form", chromedp.Click(`[data-testid="trunk-dialog"] [data-testid="dialog-close"]`))
	addTrunk("<b>Provider</b>", "sip.example.net:5060", "+1")
	b.waitJS(10*time.Second, "the trunk listed", `!!document.querySelector('[data-testid="trunk-row"]')`)
	row := mustEval[string](b, `document.querySelector('[data-testid="trunk-row"]').innerText`)
	for _, want := range []string{"<b>Provider</b>", "sip.example.net:5060 (UDP)", "IP peer", "+1", "0 / 10"} {
		if !strings.Contains(row, want) {
			t.Errorf("trunk row %q lacks %q", row, want)
		}
	}
	b.click("tab-numbers")
	b.waitJS(10*time.Second, "the empty numbers list", `!!document.querySelector('[data-testid="panel-numbers"] .tel-empty')`)
	b.click("number-add")
	b.typeInto("number-number", "+1 (555) 123-4567")
	b.typeInto("number-label", "Sales line")
	b.typeInto("number-target", "Ann")
	b.click("number-save")
	b.waitJS(10*time.Second, "the number listed", `!!document.querySelector('[data-testid="number-row"][data-number="+15551234567"]')`)
	nrow := mustEval[string](b, `document.querySelector('[data-testid="number-row"]').innerText`)
	for _, want := range []string{"Sales line", "Person: Ann", "Any"} {
		if !strings.Contains(nrow, want) {
			t.Errorf("number row %q lacks %q", nrow, want)
		}
	}
	b.click("number-edit")
	b.do(5*time.Second, "relabelling", chromedp.SetValue(tid("number-label"), "Support"))
	b.click("number-save")
	b.waitJS(10*time.Second, "the new label", `(document.querySelector('[data-testid="number-row"]')?.innerText || '').includes('Support')`)
	if bad := mustEval[bool](b, `!!document.querySelector('[data-testid="panel-trunks"] b, [data-testid="panel-numbers"] b')`); bad {
		t.Error("a trunk's name became markup")
	}
	// At a phone's width the page scrolls its tables, not itself.
	b.do(10*time.Second, "a phone-sized window", chromedp.EmulateViewport(390, 800))
	b.waitJS(5*time.Second, "the telephony page fitting", `document.documentElement.scrollWidth <= 390`)
	b.do(10*time.Second, "a desktop window again", chromedp.EmulateViewport(1280, 900))

	// A member is not let in.
	m := newBrowser(t, "Ben")
	m.signIn(srv.URL, "ben")
	m.navigate(srv.URL + "/telephony")
	m.waitJS(10*time.Second, "the refusal", `!!document.querySelector('[data-testid="not-allowed"]')`)
	if n := mustEval[int](m, `fetch('/api/v1/sip/calls').then((r) => r.status)`); n != 403 {
		t.Fatalf("a member's records request: %d", n)
	}
}
