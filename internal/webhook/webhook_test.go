package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/store"
)

// receiver is an integration's endpoint: it records deliveries and answers
// from a script of status codes (200 once the script runs out).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	script  []int
	block   chan struct{} // if set, requests wait for it to close
	waiting atomic.Int32
	got     chan delivered
}

type delivered struct {
	at     time.Time
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{got: make(chan delivered, 1000)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rc.block != nil {
			rc.waiting.Add(1)
			defer rc.waiting.Add(-1)
			select {
			case <-rc.block:
			case <-r.Context().Done():
				return
			}
		}
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		status := http.StatusOK
		if len(rc.script) > 0 {
			status, rc.script = rc.script[0], rc.script[1:]
		}
		rc.mu.Unlock()
		rc.got <- delivered{at: time.Now(), header: r.Header.Clone(), body: body}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) setScript(s ...int) {
	rc.mu.Lock()
	rc.script = s
	rc.mu.Unlock()
}

func (rc *receiver) next(t *testing.T) delivered {
	t.Helper()
	select {
	case d := <-rc.got:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
	return delivered{}
}

func (rc *receiver) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case got := <-rc.got:
		t.Fatalf("unexpected delivery %s", got.body)
	case <-time.After(d):
	}
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newDispatcher starts a dispatcher for tests: private addresses allowed
// unless cfg says otherwise (set AllowPrivate via the private argument), and
// quick retries.
func newDispatcher(t *testing.T, st Store, private bool, cfg Config) *Dispatcher {
	t.Helper()
	cfg.AllowPrivate = private
	if cfg.RetryBase == 0 {
		cfg.RetryBase = 10 * time.Millisecond
	}
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := New(t.Context(), st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// adminAuth: X-User names the user, X-Admin: 1 makes them an admin.
func adminAuth(w http.ResponseWriter, r *http.Request) (string, bool, bool) {
	u := r.Header.Get("X-User")
	if u == "" {
		writeError(w, http.StatusUnauthorized, "unauthorized", "log in")
		return "", false, false
	}
	return u, r.Header.Get("X-Admin") == "1", true
}

func call(t *testing.T, h http.Handler, method, path, user string, admin bool, body any) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if user != "" {
		req.Header.Set("X-User", user)
	}
	if admin {
		req.Header.Set("X-Admin", "1")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func count(c *atomic.Uint64) int { return int(c.Load()) }

// create makes a webhook through the API and returns it with its secret.
func create(t *testing.T, mux http.Handler, body map[string]any) webhookJSON {
	t.Helper()
	w := call(t, mux, "POST", "/api/v1/webhooks", "root", true, body)
	if w.Code != http.StatusCreated {
		t.Fatalf("create %v: %d %s", body, w.Code, w.Body)
	}
	var h webhookJSON
	if err := json.Unmarshal(w.Body.Bytes(), &h); err != nil {
		t.Fatal(err)
	}
	return h
}

type message struct {
	ID             string `json:"id"`
	ConversationID string `json:"conversationId"`
	Text           string `json:"text"`
}

func TestDeliveryIsSignedAndFiltered(t *testing.T) {
	rc := newReceiver(t)
	reg := prometheus.NewRegistry()
	d := newDispatcher(t, openStore(t), true, Config{Registry: reg, EventTypes: []string{EventMessageCreated, "message.deleted"}})
	mux := http.NewServeMux()
	d.Routes(mux, adminAuth)

	all := create(t, mux, map[string]any{"url": rc.URL + "/all?token=abc", "events": []string{"message.created"}})
	if !strings.HasPrefix(all.Secret, "whsec_") || len(all.Secret) < 40 || all.CreatedBy != "root" || !all.Enabled {
		t.Fatalf("created %+v", all)
	}
	onlyC2 := create(t, mux, map[string]any{"url": rc.URL + "/c2", "conversationId": "c2"})
	create(t, mux, map[string]any{"url": rc.URL + "/off", "enabled": false})
	create(t, mux, map[string]any{"url": rc.URL + "/deleted-only", "events": []string{"message.deleted"}})

	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	msg := message{ID: "m1", ConversationID: "c1", Text: "hello"}
	d.Publish(Event{Type: EventMessageCreated, Time: at, Data: msg, Conversation: "c1"})
	msg.Text = "changed after Publish" // Data was encoded already

	got := rc.next(t)
	rc.none(t, 100*time.Millisecond) // c2's hook, the disabled one and message.deleted's stay quiet
	if got.header.Get("X-Switchboard-Event") != EventMessageCreated || got.header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", got.header)
	}
	if err := Verify(all.Secret, got.header.Get("X-Switchboard-Signature"), got.body, 5*time.Minute, time.Now()); err != nil {
		t.Fatalf("signature: %v (header %q)", err, got.header.Get("X-Switchboard-Signature"))
	}
	if err := Verify(onlyC2.Secret, got.header.Get("X-Switchboard-Signature"), got.body, 0, time.Now()); !errors.Is(err, ErrSignatureMismatch) {
		t.Fatalf("another webhook's secret verified: %v", err)
	}
	var p struct {
		ID   string    `json:"id"`
		Type string    `json:"type"`
		Time time.Time `json:"time"`
		Data message   `json:"data"`
	}
	if err := json.Unmarshal(got.body, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.ID) != 32 || p.Type != EventMessageCreated || !p.Time.Equal(at) || p.Data != (message{ID: "m1", ConversationID: "c1", Text: "hello"}) {
		t.Fatalf("payload %s", got.body)
	}
	firstDelivery := got.header.Get("X-Switchboard-Delivery")

	// A c2 event reaches both the unfiltered hook and c2's, with one event
	// id and distinct delivery ids.
	d.Publish(Event{Type: EventMessageCreated, Data: message{ID: "m2", ConversationID: "c2"}, Conversation: "c2"})
	a, b := rc.next(t), rc.next(t)
	ids := map[string]bool{firstDelivery: true}
	for _, x := range []delivered{a, b} {
		ids[x.header.Get("X-Switchboard-Delivery")] = true
	}
	if len(ids) != 3 {
		t.Fatalf("delivery ids not unique: %v", ids)
	}
	if !bytes.Equal(a.body, b.body) {
		t.Fatal("one event, two bodies")
	}
	// message.deleted reaches only the hook that asked for it; unknown types nobody.
	d.Publish(Event{Type: "message.deleted", Data: map[string]string{"id": "m1"}, Conversation: "c1"})
	if got := rc.next(t); got.header.Get("X-Switchboard-Event") != "message.deleted" {
		t.Fatalf("got %s", got.header.Get("X-Switchboard-Event"))
	}
	d.Publish(Event{Type: "call.started", Conversation: "c1"})
	rc.none(t, 100*time.Millisecond)
	waitFor(t, "delivered", func() bool { return count(&d.metrics.delivered) == 4 })
	if families, err := reg.Gather(); err != nil || len(families) != 4 {
		t.Fatalf("registered %d metric families, %v", len(families), err)
	}
}

func TestRetryAfterServerError(t *testing.T) {
	rc := newReceiver(t)
	st := openStore(t)
	d := newDispatcher(t, st, true, Config{MaxAttempts: 3})
	mux := http.NewServeMux()
	d.Routes(mux, adminAuth)
	h := create(t, mux, map[string]any{"url": rc.URL})

	rc.setScript(500)
	d.Publish(Event{Type: EventMessageCreated, Data: "x"})
	first, second := rc.next(t), rc.next(t)
	if first.header.Get("X-Switchboard-Delivery") != second.header.Get("X-Switchboard-Delivery") || !bytes.Equal(first.body, second.body) {
		t.Fatal("a retry is not the same delivery")
	}
	if err := Verify(h.Secret, second.header.Get("X-Switchboard-Signature"), second.body, time.Minute, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivered", func() bool { return count(&d.metrics.delivered) == 1 })
	if count(&d.metrics.retries) != 1 || count(&d.metrics.failed) != 0 {
		t.Fatalf("retries %d failed %d", count(&d.metrics.retries), count(&d.metrics.failed))
	}

	// Failing every time: MaxAttempts attempts with growing gaps, then given up.
	rc.setScript(500, 502, 503, 500)
	d.Publish(Event{Type: EventMessageCreated, Data: "y"})
	var at []time.Time
	for range 3 {
		at = append(at, rc.next(t).at)
	}
	rc.none(t, 200*time.Millisecond)
	waitFor(t, "failed", func() bool { return count(&d.metrics.failed) == 1 })
	if g1, g2 := at[1].Sub(at[0]), at[2].Sub(at[1]); g1 < 10*time.Millisecond || g2 < 20*time.Millisecond {
		t.Fatalf("backoff gaps %v, %v", g1, g2)
	}
	if d.pending.Load() != 0 {
		t.Fatalf("%d deliveries still pending", d.pending.Load())
	}

	// A deleted webhook's retries stop.
	rc.setScript(500, 500, 500)
	d.Publish(Event{Type: EventMessageCreated, Data: "z"})
	rc.next(t)
	if w := call(t, mux, "DELETE", "/api/v1/webhooks/"+h.ID, "root", true, nil); w.Code != http.StatusNoContent {
		t.Fatalf("delete: %d", w.Code)
	}
	rc.none(t, 200*time.Millisecond)
	waitFor(t, "pending", func() bool { return d.pending.Load() == 0 })
}

func TestDeliveriesAreNotLost(t *testing.T) {
	// A flaky endpoint: a third of the answers are errors. Every event still
	// arrives (at least once; receivers deduplicate by delivery id).
	var n atomic.Int64
	seen := sync.Map{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%3 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var p struct{ Data int }
		json.NewDecoder(r.Body).Decode(&p)
		seen.Store(p.Data, true)
	}))
	t.Cleanup(srv.Close)
	d := newDispatcher(t, openStore(t), true, Config{RetryBase: time.Millisecond, MaxAttempts: 10, Workers: 2})
	if _, err := d.Create(t.Context(), "root", Settings{URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	const events = 300
	for i := range events {
		d.Publish(Event{Type: EventMessageCreated, Data: i})
	}
	waitFor(t, "all delivered", func() bool { return count(&d.metrics.delivered) == events })
	for i := range events {
		if _, ok := seen.Load(i); !ok {
			t.Fatalf("event %d never arrived", i)
		}
	}
	if count(&d.metrics.failed)+count(&d.metrics.dropped) != 0 || count(&d.metrics.retries) == 0 {
		t.Fatalf("failed %d dropped %d retries %d", count(&d.metrics.failed), count(&d.metrics.dropped), count(&d.metrics.retries))
	}
}

func TestQueueFullDropsWithoutBlocking(t *testing.T) {
	rc := newReceiver(t)
	rc.block = make(chan struct{})
	d := newDispatcher(t, openStore(t), true, Config{Workers: 1, QueueSize: 3})
	if _, err := d.Create(t.Context(), "root", Settings{URL: rc.URL}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 1000 {
		d.Publish(Event{Type: EventMessageCreated, Data: i})
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("1000 Publish calls took %v with a stuck endpoint", el)
	}
	if got := count(&d.metrics.dropped); got != 997 {
		t.Fatalf("dropped %d, want 997 (3 pending at most)", got)
	}
	close(rc.block)
	waitFor(t, "the three kept", func() bool { return count(&d.metrics.delivered) == 3 })
}

func TestPrivateAddressesRefused(t *testing.T) {
	rc := newReceiver(t)
	st := openStore(t)
	d := newDispatcher(t, st, false, Config{}) // the default: public only
	mux := http.NewServeMux()
	d.Routes(mux, adminAuth)

	// Addresses written out are refused when the webhook is created...
	for _, u := range []string{rc.URL, "http://localhost:8080/x", "http://[::1]/", "http://169.254.169.254/latest/meta-data",
		"https://10.0.0.5/hook", "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/", "http://app.localhost/"} {
		w := call(t, mux, "POST", "/api/v1/webhooks", "root", true, map[string]any{"url": u})
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "address") && !strings.Contains(w.Body.String(), "this server") {
			t.Errorf("%s: %d %s", u, w.Code, w.Body)
		}
	}

	// ...and whatever a name resolves to is checked when dialling: a
	// webhook stored with a loopback URL (as a name resolving to 127.0.0.1
	// would be) is never reached.
	if _, err := st.CreateWebhook(t.Context(), store.Webhook{ID: "sneaky", URL: rc.URL + "/x", Secret: "s",
		Events: []string{EventMessageCreated}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	d.Publish(Event{Type: EventMessageCreated, Data: "secret stuff"})
	waitFor(t, "refusal", func() bool { return count(&d.metrics.failed) == 1 })
	if count(&d.metrics.retries) != 0 {
		t.Fatal("a refused address was retried")
	}
	rc.none(t, 50*time.Millisecond)

	// The test endpoint reports the refusal.
	w := call(t, mux, "POST", "/api/v1/webhooks/sneaky/test", "root", true, nil)
	var res TestResult
	json.Unmarshal(w.Body.Bytes(), &res)
	if w.Code != 200 || res.Delivered || !strings.Contains(res.Error, "non-public address") {
		t.Fatalf("test of a loopback webhook: %d %s", w.Code, w.Body)
	}

	// A real dial through the client, by IP and by name.
	for _, u := range []string{rc.URL, strings.Replace(rc.URL, "127.0.0.1", "localhost", 1)} {
		if _, err := d.client.Get(u); !errors.Is(err, ErrNonPublicAddress) {
			t.Fatalf("GET %s: %v, want ErrNonPublicAddress", u, err)
		}
	}
	rc.none(t, 10*time.Millisecond)
}

func TestCreateValidation(t *testing.T) {
	st := openStore(t)
	d := newDispatcher(t, st, true, Config{})
	mux := http.NewServeMux()
	d.Routes(mux, adminAuth)
	for name, body := range map[string]any{
		"no url":           map[string]any{},
		"ftp":              map[string]any{"url": "ftp://example.com/x"},
		"javascript":       map[string]any{"url": "javascript:alert(1)"},
		"relative":         map[string]any{"url": "/hooks"},
		"no host":          map[string]any{"url": "https:///x"},
		"not a url":        map[string]any{"url": "http://exa mple.com/"},
		"credentials":      map[string]any{"url": "https://user:pw@example.com/"},
		"too long":         map[string]any{"url": "https://example.com/" + strings.Repeat("a", 2048)},
		"unknown event":    map[string]any{"url": "https://example.com/", "events": []string{"message.exploded"}},
		"bad event":        map[string]any{"url": "https://example.com/", "events": []string{"Message Created"}},
		"long conv":        map[string]any{"url": "https://example.com/", "conversationId": strings.Repeat("c", 201)},
		"control in conv":  map[string]any{"url": "https://example.com/", "conversationId": "a\nb"},
		"unknown field":    map[string]any{"url": "https://example.com/", "event": "message.created"},
		"events as string": map[string]any{"url": "https://example.com/", "events": "message.created"},
		"not json":         "{",
		"two values":       `{"url":"https://example.com/"} {}`,
	} {
		w := call(t, mux, "POST", "/api/v1/webhooks", "root", true, body)
		var e struct {
			Code, Message string
		}
		json.Unmarshal(w.Body.Bytes(), &e)
		if w.Code != http.StatusBadRequest || e.Code != "bad_request" || e.Message == "" {
			t.Errorf("%s: %d %s", name, w.Code, w.Body)
		}
	}
	if all, _ := st.Webhooks(t.Context()); len(all) != 0 {
		t.Fatalf("invalid webhooks stored: %+v", all)
	}
	// Duplicate events collapse; no events means all known ones.
	h := create(t, mux, map[string]any{"url": "https://example.com/a", "events": []string{"message.created", "message.created"}})
	if len(h.Events) != 1 {
		t.Fatalf("events %v", h.Events)
	}
	if h := create(t, mux, map[string]any{"url": "https://example.com/b"}); len(h.Events) != 1 || h.Events[0] != EventMessageCreated {
		t.Fatalf("default events %v", h.Events)
	}
}

func TestAdminAPI(t *testing.T) {
	rc := newReceiver(t)
	d := newDispatcher(t, openStore(t), true, Config{})
	mux := http.NewServeMux()
	d.Routes(mux, adminAuth)
	h := create(t, mux, map[string]any{"url": rc.URL + "/hook"})

	routes := []struct{ method, path string }{
		{"GET", "/api/v1/webhooks"},
		{"POST", "/api/v1/webhooks"},
		{"PATCH", "/api/v1/webhooks/" + h.ID},
		{"DELETE", "/api/v1/webhooks/" + h.ID},
		{"POST", "/api/v1/webhooks/" + h.ID + "/test"},
	}
	for _, r := range routes {
		if w := call(t, mux, r.method, r.path, "", false, `{"url":"https://example.com"}`); w.Code != http.StatusUnauthorized {
			t.Errorf("anonymous %s %s: %d", r.method, r.path, w.Code)
		}
		w := call(t, mux, r.method, r.path, "bob", false, `{"url":"https://example.com"}`)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), `"code":"forbidden"`) {
			t.Errorf("non-admin %s %s: %d %s", r.method, r.path, w.Code, w.Body)
		}
	}
	rc.none(t, 20*time.Millisecond)

	// Listing never shows secrets.
	w := call(t, mux, "GET", "/api/v1/webhooks", "root", true, nil)
	var list struct{ Webhooks []webhookJSON }
	json.Unmarshal(w.Body.Bytes(), &list)
	if w.Code != 200 || len(list.Webhooks) != 1 || list.Webhooks[0].ID != h.ID || list.Webhooks[0].URL != rc.URL+"/hook" ||
		strings.Contains(w.Body.String(), h.Secret) || strings.Contains(w.Body.String(), `"secret"`) {
		t.Fatalf("list: %d %s", w.Code, w.Body)
	}

	// The test endpoint pings now, signed, even while disabled.
	if w := call(t, mux, "PATCH", "/api/v1/webhooks/"+h.ID, "root", true, map[string]bool{"enabled": false}); w.Code != 200 || strings.Contains(w.Body.String(), `"enabled":true`) {
		t.Fatalf("disable: %d %s", w.Code, w.Body)
	}
	d.Publish(Event{Type: EventMessageCreated})
	rc.none(t, 50*time.Millisecond)
	w = call(t, mux, "POST", "/api/v1/webhooks/"+h.ID+"/test", "root", true, nil)
	var res TestResult
	json.Unmarshal(w.Body.Bytes(), &res)
	if w.Code != 200 || !res.Delivered || res.Status != 200 || res.DeliveryID == "" {
		t.Fatalf("test: %d %s", w.Code, w.Body)
	}
	ping := rc.next(t)
	if ping.header.Get("X-Switchboard-Event") != EventPing || ping.header.Get("X-Switchboard-Delivery") != res.DeliveryID ||
		Verify(h.Secret, ping.header.Get("X-Switchboard-Signature"), ping.body, time.Minute, time.Now()) != nil ||
		!strings.Contains(string(ping.body), h.ID) {
		t.Fatalf("ping %v %s", ping.header, ping.body)
	}
	rc.setScript(418)
	w = call(t, mux, "POST", "/api/v1/webhooks/"+h.ID+"/test", "root", true, nil)
	json.Unmarshal(w.Body.Bytes(), &res)
	if res.Delivered || res.Status != 418 || res.Error == "" {
		t.Fatalf("failed test: %s", w.Body)
	}
	rc.next(t)

	if w := call(t, mux, "PATCH", "/api/v1/webhooks/"+h.ID, "root", true, map[string]bool{"enabled": true}); w.Code != 200 {
		t.Fatalf("enable: %d", w.Code)
	}
	d.Publish(Event{Type: EventMessageCreated})
	rc.next(t)

	if w := call(t, mux, "PATCH", "/api/v1/webhooks/"+h.ID, "root", true, map[string]any{}); w.Code != http.StatusBadRequest {
		t.Fatalf("patch without enabled: %d", w.Code)
	}
	if w := call(t, mux, "DELETE", "/api/v1/webhooks/"+h.ID, "root", true, nil); w.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	for _, r := range routes[2:] {
		if w := call(t, mux, r.method, r.path, "root", true, `{"enabled":true}`); w.Code != http.StatusNotFound {
			t.Errorf("%s %s after delete: %d", r.method, r.path, w.Code)
		}
	}
	d.Publish(Event{Type: EventMessageCreated})
	rc.none(t, 50*time.Millisecond)
}

func TestReloadSeesOtherServersChanges(t *testing.T) {
	rc := newReceiver(t)
	st := openStore(t)
	d := newDispatcher(t, st, true, Config{ReloadInterval: 20 * time.Millisecond})
	// Another server (or the CLI) adds a webhook behind this one's back.
	if _, err := st.CreateWebhook(t.Context(), store.Webhook{ID: "elsewhere", URL: rc.URL, Secret: "s",
		Events: []string{EventMessageCreated}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reload", func() bool { _, ok := (*d.hooks.Load())["elsewhere"]; return ok })
	d.Publish(Event{Type: EventMessageCreated})
	rc.next(t)
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, "-5": 0, "x": 0,
		"Thu, 01 Jan 2026 00:01:00 GMT": time.Minute,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func ExampleVerify() {
	secret := "whsec_example"
	body := []byte(`{"id":"e1","type":"message.created","time":"2026-01-01T00:00:00Z","data":{}}`)
	sent := time.Unix(1767225600, 0)
	header := Sign(secret, sent, body)
	fmt.Println(header[:13])
	fmt.Println(Verify(secret, header, body, 5*time.Minute, sent.Add(time.Minute)))
	fmt.Println(Verify(secret, header, body, 5*time.Minute, sent.Add(time.Hour)))
	fmt.Println(Verify("wrong", header, body, 0, sent))
	// Output:
	// t=1767225600,
	// <nil>
	// webhook: signature timestamp outside tolerance
	// webhook: signature does not match
}

// syncBuffer is a log destination tests can read while workers write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogsHideURLTokens(t *testing.T) {
	rc := newReceiver(t)
	var logs syncBuffer
	d, err := New(t.Context(), openStore(t), Config{AllowPrivate: true, RetryBase: time.Millisecond, MaxAttempts: 2,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	for _, u := range []string{rc.URL + "/hook/SECRET-1?token=SECRET-2", "http://127.0.0.1:1/hook/SECRET-3"} {
		if _, err := d.Create(t.Context(), "root", Settings{URL: u}); err != nil {
			t.Fatal(err)
		}
	}
	rc.setScript(500)
	d.Publish(Event{Type: EventMessageCreated})
	waitFor(t, "outcomes", func() bool { return count(&d.metrics.delivered) == 1 && count(&d.metrics.failed) == 1 })
	if out := logs.String(); strings.Contains(out, "SECRET") || !strings.Contains(out, "127.0.0.1:1") {
		t.Fatalf("logs:\n%s", out)
	}
}
