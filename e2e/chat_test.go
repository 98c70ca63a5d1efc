package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"switchboard/internal/account"
	"switchboard/internal/config"
	"switchboard/internal/store"

	_ "modernc.org/sqlite" // the "sqlite" driver, for seeding
)

// TestChatPeople drives the messaging workspace in two browsers, as two colleagues would use it:
// they sign in through the UI, Ann opens a direct conversation with Ben and writes; Ben sees the
// unread badge, opens it, and Ann's message turns read (✓✓). Ben's typing shows on Ann's screen.
// A message holding HTML is shown as text and runs nothing. Ann reacts with an emoji from the
// picker and Ben sees it; Ben finds Ann's message with search. Ann's connection drops as she
// sends: the message arrives once, and what Ben wrote meanwhile reaches her. Then Ann video-calls
// Ben: Ben's page shows the incoming call, he accepts, and audio and video flow both ways
// (getStats); Ann hangs up and both conversations show the call. Each step is a subtest sharing
// the browsers.
func TestChatPeople(t *testing.T) {
	chromiumPath(t)
	start := time.Now()
	srv := startServer(t, nil)
	createUser(t, srv, "ann", "Ann", account.RoleAdmin)
	ben := createUser(t, srv, "ben", "Ben", account.RoleMember)

	a, b := startBrowsers(t, "Ann", "Ben")
	a.signIn(srv.URL, "ann")
	b.signIn(srv.URL, "ben")
	t.Logf("two browsers signed in after %v", time.Since(start).Round(time.Millisecond))

	var convID string
	t.Run("DirectMessageAndReceipts", func(t *testing.T) {
		setT(t, a, b)
		a.click("new-direct")
		a.waitJS(10*time.Second, "Ben in the people picker", fmt.Sprintf(`document.querySelector('[data-testid="user-option"][data-user=%q]')`, ben.ID))
		a.do(10*time.Second, "choosing Ben", chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="user-option"][data-user=%q]`, ben.ID))))
		a.waitJS(10*time.Second, "the conversation with Ben", `document.querySelector('[data-testid="conversation"]')`)
		convID = mustEval[string](a, `document.querySelector('[data-testid="conversation"]').dataset.conversation`)
		a.send("Hello Ben, how are you?")
		a.waitMessage(10*time.Second, "Hello Ben, how are you?")
		// Ben's list shows the conversation with one unread message, and Ann online.
		b.waitJS(10*time.Second, "the new conversation with an unread badge of 1", fmt.Sprintf(
			`(() => { const el = document.querySelector('[data-testid="conv-item"][data-conversation=%q]');
				return el && el.querySelector('[data-testid="conv-unread"]')?.textContent === '1'; })()`, convID))
		b.waitJS(10*time.Second, "Ann shown available", fmt.Sprintf(
			`document.querySelector('[data-testid="conv-item"][data-conversation=%q] [data-testid="presence-dot"]')?.dataset.status === 'available'`, convID))
		// Before Ben opens it, Ann's message was delivered to his device (✓), not read.
		a.waitJS(10*time.Second, "Ann's message marked delivered", `document.querySelector('.msg.mine [data-testid="receipt"]')?.dataset.status === 'delivered'`)
		b.do(10*time.Second, "opening the conversation", chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="conv-item"][data-conversation=%q]`, convID))))
		b.waitMessage(10*time.Second, "Hello Ben, how are you?")
		b.waitJS(10*time.Second, "the unread badge gone", `!document.querySelector('[data-testid="conv-unread"]')`)
		b.waitJS(5*time.Second, "the beginning of the conversation", `document.querySelector('[data-testid="conversation-start"]')`)
		a.waitJS(10*time.Second, "Ann's message marked read (✓✓)", `(() => {
			const r = document.querySelector('.msg.mine [data-testid="receipt"]');
			return r && r.dataset.status === 'read' && r.textContent === '✓✓'; })()`)
	})

	t.Run("TypingIndicator", func(t *testing.T) {
		setT(t, a, b)
		b.typeInto("composer-input", "Fine, thanks")
		a.waitJS(10*time.Second, "Ben is typing", `document.querySelector('[data-testid="typing-indicator"]').textContent.includes('Ben is typing')`)
		b.do(10*time.Second, "pressing Enter", chromedp.SendKeys(tid("composer-input"), kb.Enter))
		a.waitMessage(10*time.Second, "Fine, thanks")
		a.waitJS(10*time.Second, "the typing indicator cleared", `document.querySelector('[data-testid="typing-indicator"]').textContent === ''`)
		if got := mustEval[string](b, `document.querySelector('[data-testid="composer-input"]').value`); got != "" {
			t.Errorf("the composer holds %q after sending, want it empty", got)
		}
	})

	t.Run("HTMLIsText", func(t *testing.T) {
		setT(t, a, b)
		evil := `<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"> <b>bold?</b>`
		b.send(evil)
		a.waitMessage(10*time.Second, evil)
		got := mustEval[map[string]any](a, `(() => {
			const list = document.querySelector('[data-testid="message-list"]');
			return { scripts: list.querySelectorAll('script').length, imgs: list.querySelectorAll('img[src="x"], b').length,
				xss: window.__xss === undefined ? 'none' : String(window.__xss) };
		})()`)
		if got["scripts"] != float64(0) || got["imgs"] != float64(0) || got["xss"] != "none" {
			t.Errorf("a message holding HTML created elements or ran: %v", got)
		}
	})

	t.Run("Reaction", func(t *testing.T) {
		setT(t, a, b)
		seq := a.messageSeq("Fine, thanks")
		// The hover toolbar's "Add a reaction" opens the picker; pick 🎉.
		mustEval[bool](a, fmt.Sprintf(`(document.querySelector('.msg[data-seq="%d"] [data-testid="react-button"]').click(), true)`, seq))
		a.waitJS(5*time.Second, "the emoji picker", `document.querySelector('[data-testid="emoji-picker"]')`)
		a.do(10*time.Second, "picking 🎉", chromedp.Click(chromedp.CSS(`[data-testid="emoji-option"][data-emoji="🎉"]`)))
		for _, br := range []*browser{a, b} {
			br.waitJS(10*time.Second, "the 🎉 reaction on Ben's message", fmt.Sprintf(
				`document.querySelector('.msg[data-seq="%d"] [data-testid="reaction"][data-emoji="🎉"]')?.dataset.count === '1'`, seq))
		}
		if mine := mustEval[string](a, fmt.Sprintf(`document.querySelector('.msg[data-seq="%d"] [data-testid="reaction"]').getAttribute('aria-pressed')`, seq)); mine != "true" {
			t.Errorf("Ann's own reaction is not shown as hers (aria-pressed=%s)", mine)
		}
	})

	t.Run("Search", func(t *testing.T) {
		setT(t, a, b)
		b.typeInto("search-input", "how are"+kb.Enter)
		b.waitJS(10*time.Second, "a search result with Ann's message", `[...document.querySelectorAll('[data-testid="search-result"]')]
			.some((r) => r.textContent.includes('Hello Ben, how are you?'))`)
		n := mustEval[float64](b, `document.querySelectorAll('[data-testid="search-result"]').length`)
		if n != 1 {
			t.Errorf("search for %q found %v messages, want 1", "how are", n)
		}
		b.do(10*time.Second, "closing the search panel", chromedp.SendKeys(tid("search-input"), kb.Escape))
		b.waitJS(5*time.Second, "the search panel closed", `!document.querySelector('[data-testid="search-panel"]')`)
	})

	t.Run("Reconnect", func(t *testing.T) {
		setT(t, a, b)
		// Ann's connection drops just after she sent a message, before the server's answer came:
		// the SDK sends it again after reconnecting, with the same txn, and the server keeps one.
		mustEval[bool](a, `(() => {
			const c = window.__sbChat;
			const raw = c._raw.bind(c);
			let dropped = false;
			window.__sentTxns = [];
			c._raw = (m) => {
				const ok = raw(m);
				if (m.type === 'send') {
					window.__sentTxns.push(m.txn);
					if (!dropped) { dropped = true; c._ws.close(); }
				}
				return ok;
			};
			return true;
		})()`)
		a.send("Sent as the connection dropped")
		// Meanwhile Ben writes; Ann catches up with sync after reconnecting.
		b.send("Written while Ann was away")
		a.waitJS(15*time.Second, "Ann connected again", `window.__sbChat.state === 'connected'`)
		for _, br := range []*browser{a, b} {
			br.waitMessage(10*time.Second, "Sent as the connection dropped")
			br.waitMessage(10*time.Second, "Written while Ann was away")
		}
		for _, br := range []*browser{a, b} {
			n := mustEval[float64](br, `[...document.querySelectorAll('[data-testid="message-text"]')].filter((m) => m.textContent === 'Sent as the connection dropped').length`)
			stored := mustEval[float64](br, fmt.Sprintf(`window.__sbChat.conversations.get(%q).messages.filter((m) => m.text === 'Sent as the connection dropped').length`, convID))
			if n != 1 || stored != 1 {
				t.Errorf("%s shows the message sent during the drop %v times (%v in the SDK), want once", br.name, n, stored)
			}
		}
		if txns := mustEval[[]string](a, `window.__sentTxns`); len(txns) != 2 || txns[0] != txns[1] {
			t.Errorf("Ann's SDK sent txns %q, want the same txn twice (before and after the drop)", txns)
		}
		if n := mustEval[float64](a, `document.querySelectorAll('[data-testid="pending-message"]').length`); n != 0 {
			t.Errorf("Ann still shows %v messages as sending", n)
		}
	})

	t.Run("VideoCall", func(t *testing.T) {
		setT(t, a, b)
		callStart := time.Now()
		a.click("call-video")
		a.waitJS(10*time.Second, "the Calling screen", `document.querySelector('[data-testid="outgoing-call"]')`)
		b.waitJS(15*time.Second, "the incoming call screen", `(() => {
			const s = document.querySelector('[data-testid="incoming-call"]');
			return s && s.textContent.includes('Ann') && s.textContent.includes('video call'); })()`)
		b.click("call-accept")
		for _, br := range []*browser{a, b} {
			br.waitJS(20*time.Second, "the call screen, connected", `window.__sb && window.__sb.room && window.__sb.room.state === 'connected' && window.__sb.room.p2p && document.querySelector('[data-testid="call-layer"] [data-testid="call"]')`)
		}
		if n := mustEval[float64](a, `document.querySelectorAll('[data-testid="outgoing-call"], [data-testid="incoming-call"]').length`); n != 0 {
			t.Errorf("Ann still shows %v ringing screens in the call", n)
		}
		// Audio and video both ways, peer to peer.
		b.waitMediaFrom(mediaTimeout, 10, "Ann")
		st := a.waitMediaFrom(mediaTimeout, 10, "Ben")
		t.Logf("media both ways %v after the click on Call; Ann receives: %s", time.Since(callStart).Round(time.Millisecond), describeStats(st))
		st = b.waitMediaFrom(mediaTimeout, 10, "Ann")
		t.Logf("Ben receives: %s", describeStats(st))
		for name, s := range st {
			if s.Kind == "audio" && s.Packets <= 0 {
				t.Errorf("Ben: no audio packets from %s", name)
			}
		}
		// Ann hangs up: both call screens close and the conversation shows the call.
		a.click("leave")
		for _, br := range []*browser{a, b} {
			br.waitJS(15*time.Second, "the call screen closed", `!document.querySelector('[data-testid="call-layer"]')`)
			br.waitJS(15*time.Second, "the call in the conversation", `[...document.querySelectorAll('[data-testid="call-entry"]')]
				.some((e) => e.dataset.outcome === 'answered' && e.textContent.startsWith('Video call, '))`)
		}
	})
	t.Logf("TestChatPeople took %v", time.Since(start).Round(time.Millisecond))
}

// TestChatScrollBack opens a conversation of 10,000 messages and scrolls back through 2,000 of them,
// a page (50) at a time, as fast as the list lets it: the newest page shows quickly, each older page
// follows within a second or two, and the DOM never holds more than 150 messages however far back
// one goes. (The beginning of a conversation is checked in TestChatPeople.)
func TestChatScrollBack(t *testing.T) {
	chromiumPath(t)
	start := time.Now()
	var dataDir string
	srv := startServer(t, func(c *config.Config) { dataDir = c.DataDir })
	ann := createUser(t, srv, "ann", "Ann", account.RoleMember)
	ben := createUser(t, srv, "ben", "Ben", account.RoleMember)
	ctx := context.Background()
	conv, _, err := srv.app.Store().DirectConversation(ctx, "scrollback", ann.ID, ben.ID)
	if err != nil {
		t.Fatal(err)
	}
	const total = 10000
	// Seed while the browser starts.
	var wg sync.WaitGroup
	var seedErr error
	var seedTime time.Duration
	wg.Go(func() {
		t0 := time.Now()
		seedErr = seedMessages(ctx, srv, dataDir, conv.ID, total, func(i int) string {
			if i%3 == 0 {
				return ben.ID
			}
			return ann.ID
		})
		seedTime = time.Since(t0)
	})
	a := newBrowser(t, "Ann")
	wg.Wait()
	if seedErr != nil {
		t.Fatalf("seeding: %v", seedErr)
	}
	t.Logf("seeded %d messages in %v", total, seedTime.Round(time.Millisecond))
	a.signIn(srv.URL, "ann")

	opened := time.Now()
	// Clicked from the page: the list may redraw between a CDP query and its click (a stale node).
	a.waitJS(10*time.Second, "opening the conversation", fmt.Sprintf(`(() => {
		const item = document.querySelector('[data-testid="conv-item"][data-conversation=%q]');
		if (item) item.click();
		return !!item; })()`, conv.ID))
	a.waitJS(10*time.Second, "the newest message", fmt.Sprintf(`[...document.querySelectorAll('[data-testid="message-text"]')].some((m) => m.textContent === 'Message #%d')`, total))
	openTime := time.Since(opened)
	t.Logf("opened the conversation and showed its newest message in %v", openTime.Round(time.Millisecond))

	// Scroll to the top again and again (as fast as the list loads) until message #8000 shows. The
	// page records how many messages the DOM held after each step, and how long each step took.
	const back = 2000
	res := mustEvalLong[map[string]float64](a, 120*time.Second, fmt.Sprintf(`(async (target) => {
		const sc = document.querySelector('[data-testid="message-list"]');
		const count = () => sc.querySelectorAll('[data-testid="message"]').length;
		const first = () => Number(sc.querySelector('[data-seq]')?.dataset.seq || 0);
		const t0 = performance.now();
		let maxNodes = count(), steps = 0, slowest = 0;
		const atStart = () => first() <= target;
		while (!atStart()) {
			const before = first();
			const s0 = performance.now();
			sc.scrollTop = 0;
			// Wait until older messages are in (or a 10 s step timeout).
			while (first() === before && !atStart() && performance.now() - s0 < 10000) {
				await new Promise((r) => requestAnimationFrame(r));
			}
			if (first() === before && !atStart()) return { error: 1, first: before, steps };
			slowest = Math.max(slowest, performance.now() - s0);
			maxNodes = Math.max(maxNodes, count());
			steps++;
		}
		return { ms: performance.now() - t0, steps, maxNodes, slowest, first: first(), nodes: count() };
	})(%d)`, total-back))
	t.Logf("scrolled back %d messages (to #%.0f) in %.0f ms, %.0f steps (slowest %.0f ms); at most %.0f messages in the DOM",
		back, res["first"], res["ms"], res["steps"], res["slowest"], res["maxNodes"])
	if res["error"] != 0 || res["first"] > total-back {
		t.Fatalf("scrolling back stopped at message %v after %v steps", res["first"], res["steps"])
	}
	if res["maxNodes"] > 150 {
		t.Errorf("the DOM held %v messages at once, want at most 150", res["maxNodes"])
	}
	if res["slowest"] > float64(scaled(5*time.Second).Milliseconds()) {
		t.Errorf("the slowest page took %.0f ms to show, want under 5 s", res["slowest"])
	}
	first := mustEval[string](a, `document.querySelector('[data-testid="message-text"]').textContent`)
	if want := fmt.Sprintf("Message #%.0f", res["first"]); first != want {
		t.Errorf("the first message shown is %q, want %q", first, want)
	}
	// Back to the newest with the "Jump to latest" button.
	a.waitJS(5*time.Second, "the Jump to latest button", `!document.querySelector('[data-testid="jump-latest"]').hidden`)
	a.click("jump-latest")
	a.waitJS(10*time.Second, "the newest message again", fmt.Sprintf(`[...document.querySelectorAll('[data-testid="message-text"]')].some((m) => m.textContent === 'Message #%d')`, total))
	if n := mustEval[float64](a, `document.querySelectorAll('[data-testid="message-list"] [data-testid="message"]').length`); n > 200 {
		t.Errorf("the DOM holds %v messages after jumping to the latest, want at most 200", n)
	}
	if openTime > scaled(5*time.Second) {
		t.Errorf("opening the conversation took %v, want under 5 s", openTime)
	}
	t.Logf("TestChatScrollBack took %v", time.Since(start).Round(time.Millisecond))
}

// --------------------------------------------------------------------------------------------
// Helpers for the messaging tests.

// testPassword is every test account's password.
const testPassword = "correct horse battery staple"

// createUser makes an account in the server's store, as `switchboard user add` does.
func createUser(t *testing.T, srv *server, username, displayName, role string) store.User {
	t.Helper()
	accounts, err := account.New(account.Config{Store: srv.app.Store()})
	if err != nil {
		t.Fatal(err)
	}
	u, err := accounts.CreateUser(context.Background(), account.NewUser{Username: username, DisplayName: displayName, Role: role, Password: testPassword})
	if err != nil {
		t.Fatalf("creating user %s: %v", username, err)
	}
	return u
}

// seedMessages fills conversation conv with n text messages, sender(i) sending the i-th. Most are
// written with one SQL statement straight into the SQLite database (AppendMessage, one transaction
// each, takes about 5 ms under the race detector: 50 s for 10,000); the last ten go through
// AppendMessage, which checks that the log the statement wrote is consistent (it takes the next
// sequence number, and fails on a duplicate).
func seedMessages(ctx context.Context, srv *server, dataDir, conv string, n int, sender func(i int) string) error {
	const viaStore = 10
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "switchboard.db")+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	bulk := n - viaStore
	// Two senders, alternating as sender(i) says: the SQL takes the id of "every third" from sender(3).
	base := time.Now().Add(-time.Duration(n) * time.Minute).UnixMilli()
	if _, err := tx.ExecContext(ctx, `WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?)
		INSERT INTO messages (conversation_id, seq, kind, sender_id, text, created_at)
		SELECT ?, i, 'text', CASE WHEN i % 3 = 0 THEN ? ELSE ? END, 'Message #' || i, ? + i * 60000 FROM k`,
		bulk, conv, sender(3), sender(1), base); err != nil {
		return fmt.Errorf("bulk insert: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE conversations SET last_seq = ?, last_activity = ? WHERE id = ?`,
		bulk, base+int64(bulk)*60000, conv); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for i := bulk + 1; i <= n; i++ {
		m, _, err := srv.app.Store().AppendMessage(ctx, store.Message{ConversationID: conv, Kind: store.KindText, SenderID: sender(i),
			Text: fmt.Sprintf("Message #%d", i)})
		if err != nil {
			return err
		}
		if m.Seq != int64(i) {
			return fmt.Errorf("message %d was stored as seq %d", i, m.Seq)
		}
	}
	return nil
}

// startBrowsers starts browsers in parallel (starting one is most of a test's time).
func startBrowsers(t *testing.T, names ...string) (*browser, *browser) {
	t.Helper()
	out := make([]*browser, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() { out[i] = newBrowser(t, n) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return out[0], out[1]
}

// signIn signs in on the home page's form and waits for the workspace.
func (b *browser) signIn(base, username string) {
	b.t.Helper()
	b.navigate(base + "/")
	b.typeInto("login-username", username)
	b.typeInto("login-password", testPassword)
	b.click("login-submit")
	b.waitJS(15*time.Second, "the workspace", `document.querySelector('[data-testid="workspace"]') && window.__sbChat && window.__sbChat.state === 'connected'`)
}

// send types a message into the open conversation's composer and presses Enter.
func (b *browser) send(text string) {
	b.t.Helper()
	b.do(10*time.Second, "typing a message", chromedp.SendKeys(tid("composer-input"), text+kb.Enter))
}

// waitMessage waits until the open conversation shows a message whose text is exactly text.
func (b *browser) waitMessage(timeout time.Duration, text string) {
	b.t.Helper()
	q, _ := json.Marshal(text)
	b.waitJS(timeout, fmt.Sprintf("the message %s", q), fmt.Sprintf(
		`[...document.querySelectorAll('[data-testid="message"] [data-testid="message-text"]')].some((m) => m.textContent === %s)`, q))
}

// messageSeq is the sequence number of the shown message whose text is exactly text.
func (b *browser) messageSeq(text string) int64 {
	b.t.Helper()
	q, _ := json.Marshal(text)
	s := mustEval[string](b, fmt.Sprintf(`[...document.querySelectorAll('[data-testid="message"]')]
		.find((m) => m.querySelector('[data-testid="message-text"]')?.textContent === %s)?.dataset.seq || ''`, q))
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		b.t.Fatalf("%s: no message %s shown", b.name, q)
	}
	return n
}

// mustEvalLong is mustEval with a longer deadline, for scripts that run a whole scenario.
func mustEvalLong[T any](b *browser, timeout time.Duration, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, scaled(timeout))
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: evaluating %s: %v", b.name, shorten(js), err)
	}
	return v
}
