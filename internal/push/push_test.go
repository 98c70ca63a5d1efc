package push

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/store"
)

const testSubject = "mailto:ops@example.com"

// browser is the receiving side of Web Push, as a browser implements it: an
// ECDH key pair and an auth secret, and RFC 8291 decryption.
type browser struct {
	priv *ecdh.PrivateKey
	auth []byte
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return &browser{priv: priv, auth: auth}
}

// subscription is what PushSubscription.toJSON() gives for endpoint.
func (b *browser) subscription(endpoint string) Subscription {
	var s Subscription
	s.Endpoint = endpoint
	s.Keys.P256dh = base64.RawURLEncoding.EncodeToString(b.priv.PublicKey().Bytes())
	s.Keys.Auth = base64.RawURLEncoding.EncodeToString(b.auth)
	return s
}

// decrypt opens an aes128gcm body (RFC 8188 framing, RFC 8291 keys) and
// returns the plaintext without padding.
func (b *browser) decrypt(body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("body shorter than the header")
	}
	salt, rs, idLen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if idLen != 65 || len(body) < 21+idLen {
		return nil, fmt.Errorf("keyid length %d, want the sender's 65-byte public key", idLen)
	}
	senderPub, ciphertext := body[21:21+idLen], body[21+idLen:]
	if len(ciphertext) > int(rs) || len(ciphertext) < 17 {
		return nil, fmt.Errorf("%d bytes of ciphertext for record size %d: want one record", len(ciphertext), rs)
	}
	asPub, err := ecdh.P256().NewPublicKey(senderPub)
	if err != nil {
		return nil, err
	}
	shared, err := b.priv.ECDH(asPub)
	if err != nil {
		return nil, err
	}
	info := "WebPush: info\x00" + string(b.priv.PublicKey().Bytes()) + string(senderPub)
	ikm, err := hkdf.Key(sha256.New, shared, b.auth, info, 32)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	// Padding: a delimiter (2 for the last record) then zeros.
	end := bytes.LastIndexFunc(plain, func(r rune) bool { return r != 0 })
	if end < 0 || plain[end] != 2 {
		return nil, errors.New("no last-record delimiter")
	}
	return plain[:end], nil
}

// received is one request to the fake push service.
type received struct {
	at       time.Time
	path     string
	header   http.Header
	body     []byte
	vapidErr error
}

// pushService is a fake push service: it checks VAPID on every request and
// answers from a script of status codes (201 once the script runs out).
type pushService struct {
	*httptest.Server
	t        *testing.T
	mu       sync.Mutex
	vapidKey string // the server's VAPID public key, once known
	script   []int
	headers  map[int]http.Header // extra response headers by status
	byPath   map[string]int      // status for a path, overriding the script
	block    chan struct{}       // if set, requests wait for it to close
	waiting  atomic.Int32        // requests waiting on block
	got      chan received
}

func newPushService(t *testing.T, tls bool) *pushService {
	p := &pushService{t: t, got: make(chan received, 100), headers: map[int]http.Header{}, byPath: map[string]int{}}
	h := http.HandlerFunc(p.serve)
	if tls {
		p.Server = httptest.NewTLSServer(h)
	} else {
		p.Server = httptest.NewServer(h)
	}
	t.Cleanup(p.Close)
	return p
}

func (p *pushService) serve(w http.ResponseWriter, r *http.Request) {
	if p.block != nil {
		p.waiting.Add(1)
		defer p.waiting.Add(-1)
		select {
		case <-p.block:
		case <-r.Context().Done():
			return
		}
	}
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	key := p.vapidKey
	status := http.StatusCreated
	if st, ok := p.byPath[r.URL.Path]; ok {
		status = st
	} else if len(p.script) > 0 {
		status, p.script = p.script[0], p.script[1:]
	}
	extra := p.headers[status]
	p.mu.Unlock()
	rec := received{at: time.Now(), path: r.URL.Path, header: r.Header.Clone(), body: body}
	// The audience is the push service's origin, as the browser's push
	// service sees itself.
	rec.vapidErr = verifyVAPID(r.Header.Get("Authorization"), key, p.URL, testSubject)
	if rec.vapidErr != nil {
		status = http.StatusUnauthorized
	}
	p.got <- rec
	for k, v := range extra {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
}

func (p *pushService) setScript(statuses ...int) {
	p.mu.Lock()
	p.script = statuses
	p.mu.Unlock()
}

func (p *pushService) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-p.got:
		if r.vapidErr != nil {
			t.Fatalf("VAPID: %v", r.vapidErr)
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no push request")
	}
	return received{}
}

func (p *pushService) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case r := <-p.got:
		t.Fatalf("unexpected push request to %s", r.path)
	case <-time.After(d):
	}
}

// verifyVAPID checks an RFC 8292 Authorization header: "vapid t=<JWT>,
// k=<public key>", the key being the server's, the JWT signed with it
// (ES256), for this audience and subject, expiring within 24 hours.
func verifyVAPID(header, wantKey, aud, sub string) error {
	rest, ok := strings.CutPrefix(header, "vapid ")
	if !ok {
		return fmt.Errorf("authorization %q is not vapid", header)
	}
	params := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		params[k] = v
	}
	if params["k"] != wantKey {
		return fmt.Errorf("k=%q, want the server's key %q", params["k"], wantKey)
	}
	raw, err := base64.RawURLEncoding.DecodeString(params["k"])
	if err != nil {
		return fmt.Errorf("k: %w", err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return fmt.Errorf("k: %w", err)
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(params["t"], claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(aud), jwt.WithExpirationRequired())
	if err != nil {
		return fmt.Errorf("jwt: %w", err)
	}
	exp, _ := claims.GetExpirationTime()
	if d := time.Until(exp.Time); d > 24*time.Hour || d <= 0 {
		return fmt.Errorf("jwt expires in %v, want within 24h", d)
	}
	if claims["sub"] != sub {
		return fmt.Errorf("jwt sub %v, want %q", claims["sub"], sub)
	}
	return nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newService starts a service for tests: insecure endpoints allowed (the
// fake push service is http on loopback) and quick retries.
func newService(t *testing.T, st Store, cfg Config) *Service {
	t.Helper()
	if cfg.Subject == "" {
		cfg.Subject = testSubject
	}
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = 10 * time.Millisecond
	}
	cfg.Logger = testLogger(t)
	s, err := New(t.Context(), st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
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

// userAuth authenticates by an X-User header, as a stand-in for sessions.
func userAuth(w http.ResponseWriter, r *http.Request) (string, bool) {
	if u := r.Header.Get("X-User"); u != "" {
		return u, true
	}
	writeError(w, http.StatusUnauthorized, "unauthorized", "log in")
	return "", false
}

func call(t *testing.T, h http.Handler, method, path, user string, body any) *httptest.ResponseRecorder {
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
	req.Header.Set("User-Agent", "TestBrowser/1.0")
	if user != "" {
		req.Header.Set("X-User", user)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestNotifyDeliversEncryptedSignedPush(t *testing.T) {
	ps := newPushService(t, false)
	reg := prometheus.NewRegistry()
	s := newService(t, openStore(t, t.TempDir()), Config{AllowInsecureEndpoints: true, Registry: reg})
	ps.vapidKey = s.PublicKey()
	mux := http.NewServeMux()
	s.Routes(mux, userAuth)

	// The key endpoint is public and serves what subscriptions bind to.
	w := call(t, mux, "GET", "/api/v1/push/vapid-key", "", nil)
	var key struct{ PublicKey string }
	if json.Unmarshal(w.Body.Bytes(), &key); w.Code != 200 || key.PublicKey != s.PublicKey() {
		t.Fatalf("vapid-key: %d %s", w.Code, w.Body)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(key.PublicKey); err != nil || len(raw) != 65 || raw[0] != 4 {
		t.Fatalf("public key %q is not an uncompressed P-256 point", key.PublicKey)
	}

	// Alice has two browsers, Bob one.
	laptop, phone, bobs := newBrowser(t), newBrowser(t), newBrowser(t)
	byPath := map[string]*browser{"/push/laptop": laptop, "/push/phone": phone}
	for path, b := range byPath {
		// toJSON() has expirationTime too; unknown fields are fine.
		body := map[string]any{"endpoint": ps.URL + path, "expirationTime": nil, "keys": b.subscription("").Keys}
		if w := call(t, mux, "POST", "/api/v1/push/subscriptions", "alice", body); w.Code != http.StatusCreated {
			t.Fatalf("subscribe: %d %s", w.Code, w.Body)
		}
	}
	if w := call(t, mux, "POST", "/api/v1/push/subscriptions", "bob", bobs.subscription(ps.URL+"/push/bob")); w.Code != http.StatusCreated {
		t.Fatalf("subscribe bob: %d %s", w.Code, w.Body)
	}
	subs, _ := s.Subscriptions(t.Context(), "alice")
	if len(subs) != 2 || subs[0].UserAgent != "TestBrowser/1.0" {
		t.Fatalf("alice's subscriptions: %+v", subs)
	}

	msg := Notification{Type: TypeMessage, Title: "Bob", Body: "Lunch? 🍜", URL: "/c/42", Tag: "conv-42", ConversationID: "42"}
	s.Notify(t.Context(), "alice", msg)
	for range 2 {
		r := ps.next(t)
		b := byPath[r.path]
		if b == nil {
			t.Fatalf("push to %s", r.path)
		}
		delete(byPath, r.path)
		for h, want := range map[string]string{"Content-Encoding": "aes128gcm", "TTL": "86400", "Urgency": "normal", "Topic": topic("conv-42")} {
			if got := r.header.Get(h); got != want {
				t.Errorf("%s: %q, want %q", h, got, want)
			}
		}
		if len(r.header.Get("Topic")) != 32 {
			t.Errorf("topic %q", r.header.Get("Topic"))
		}
		// The check above is strict: another audience or key fails it.
		if verifyVAPID(r.header.Get("Authorization"), s.PublicKey(), "https://fcm.googleapis.com", testSubject) == nil ||
			verifyVAPID(r.header.Get("Authorization"), b.subscription("").Keys.P256dh, ps.URL, testSubject) == nil {
			t.Fatal("VAPID check accepts a wrong audience or key")
		}
		plain, err := b.decrypt(r.body)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"type":"message","title":"Bob","body":"Lunch? 🍜","url":"/c/42","tag":"conv-42","conversationId":"42"}`
		if string(plain) != want {
			t.Fatalf("payload %s\nwant    %s", plain, want)
		}
		// Decrypting with another browser's keys must fail.
		if _, err := bobs.decrypt(r.body); err == nil {
			t.Fatal("bob's keys decrypted alice's push")
		}
	}
	ps.none(t, 50*time.Millisecond)

	// Calls: short TTL, high urgency.
	s.Notify(t.Context(), "bob", Notification{Type: TypeCall, Title: "Alice is calling", URL: "/call/7", Tag: "call-7"})
	r := ps.next(t)
	if r.path != "/push/bob" || r.header.Get("TTL") != "60" || r.header.Get("Urgency") != "high" {
		t.Fatalf("call push: %s TTL %s Urgency %s", r.path, r.header.Get("TTL"), r.header.Get("Urgency"))
	}
	plain, err := bobs.decrypt(r.body)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(plain, &got); err != nil || got["type"] != "call" || got["title"] != "Alice is calling" || got["conversationId"] != "" {
		t.Fatalf("call payload %s, %v", plain, err)
	}

	// Nobody subscribed: nothing sent. Unknown types are not sent.
	s.Notify(t.Context(), "carol", msg)
	s.Notify(t.Context(), "alice", Notification{Type: "spam", Title: "x"})
	ps.none(t, 50*time.Millisecond)

	waitFor(t, "sent counter", func() bool { return count(&s.metrics.sent) == 3 })
	families, err := reg.Gather()
	if err != nil || len(families) != 5 {
		t.Fatalf("registered metrics: %d, %v", len(families), err)
	}
	for _, f := range families {
		if f.GetName() == "switchboard_push_sent_total" && f.GetMetric()[0].GetCounter().GetValue() != 3 {
			t.Fatalf("exported sent %v", f.GetMetric()[0].GetCounter().GetValue())
		}
	}
}

func TestLongTextIsCut(t *testing.T) {
	ps := newPushService(t, false)
	s := newService(t, openStore(t, t.TempDir()), Config{AllowInsecureEndpoints: true})
	ps.vapidKey = s.PublicKey()
	b := newBrowser(t)
	if _, err := s.Subscribe(t.Context(), "u", b.subscription(ps.URL+"/p"), ""); err != nil {
		t.Fatal(err)
	}
	s.Notify(t.Context(), "u", Notification{Type: TypeMention, Title: strings.Repeat("t", 500), Body: strings.Repeat("é", 5000)})
	plain, err := b.decrypt(ps.next(t).body)
	if err != nil {
		t.Fatal(err)
	}
	var n Notification
	json.Unmarshal(plain, &n)
	if len([]rune(n.Title)) != maxTitle || len([]rune(n.Body)) != maxBody || !strings.HasSuffix(n.Body, "…") {
		t.Fatalf("title %d runes, body %d runes", len([]rune(n.Title)), len([]rune(n.Body)))
	}
}

func TestGoneSubscriptionIsRemoved(t *testing.T) {
	for _, status := range []int{http.StatusGone, http.StatusNotFound} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			ps := newPushService(t, false)
			s := newService(t, openStore(t, t.TempDir()), Config{AllowInsecureEndpoints: true})
			ps.vapidKey = s.PublicKey()
			gone, live := newBrowser(t), newBrowser(t)
			s.Subscribe(t.Context(), "u", gone.subscription(ps.URL+"/gone"), "")
			s.Subscribe(t.Context(), "u", live.subscription(ps.URL+"/live"), "")
			ps.mu.Lock()
			ps.byPath["/gone"] = status
			ps.mu.Unlock()
			s.Notify(t.Context(), "u", Notification{Type: TypeMessage, Title: "hi"})
			ps.next(t)
			ps.next(t)
			waitFor(t, "removal and the other send", func() bool { return count(&s.metrics.removed) == 1 && count(&s.metrics.sent) == 1 })
			subs, _ := s.Subscriptions(t.Context(), "u")
			if len(subs) != 1 || subs[0].Endpoint != ps.URL+"/live" {
				t.Fatalf("after %d: %+v", status, subs)
			}
			if count(&s.metrics.sent) != 1 || count(&s.metrics.retries) != 0 {
				t.Fatalf("sent %d, retries %d", count(&s.metrics.sent), count(&s.metrics.retries))
			}
		})
	}
}

func TestRetries(t *testing.T) {
	ps := newPushService(t, false)
	s := newService(t, openStore(t, t.TempDir()), Config{AllowInsecureEndpoints: true, MaxAttempts: 3})
	ps.vapidKey = s.PublicKey()
	b := newBrowser(t)
	if _, err := s.Subscribe(t.Context(), "u", b.subscription(ps.URL+"/p"), ""); err != nil {
		t.Fatal(err)
	}

	// 429 with Retry-After: the retry waits as long as asked, then succeeds.
	ps.headers[http.StatusTooManyRequests] = http.Header{"Retry-After": {"1"}}
	ps.setScript(http.StatusTooManyRequests)
	s.Notify(t.Context(), "u", Notification{Type: TypeMessage, Title: "one"})
	first, second := ps.next(t), ps.next(t)
	if gap := second.at.Sub(first.at); gap < 900*time.Millisecond {
		t.Fatalf("retried after %v despite Retry-After: 1", gap)
	}
	if plain, err := b.decrypt(second.body); err != nil || !strings.Contains(string(plain), `"one"`) {
		t.Fatalf("retried payload %s, %v", plain, err)
	}
	waitFor(t, "sent", func() bool { return count(&s.metrics.sent) == 1 })

	// 5xx every time: MaxAttempts tries in all, then counted as failed.
	ps.setScript(500, 502, 503, 504)
	s.Notify(t.Context(), "u", Notification{Type: TypeMessage, Title: "two"})
	for range 3 {
		ps.next(t)
	}
	ps.none(t, 200*time.Millisecond)
	waitFor(t, "failed", func() bool { return count(&s.metrics.failed) == 1 })
	if count(&s.metrics.retries) != 3 || count(&s.metrics.sent) != 1 {
		t.Fatalf("retries %d, sent %d", count(&s.metrics.retries), count(&s.metrics.sent))
	}
	if subs, _ := s.Subscriptions(t.Context(), "u"); len(subs) != 1 {
		t.Fatal("a failing push service removed the subscription")
	}

	// A Retry-After longer than MaxRetryDelay is not waited for.
	ps.headers[http.StatusServiceUnavailable] = http.Header{"Retry-After": {"3600"}}
	ps.setScript(http.StatusServiceUnavailable)
	s.Notify(t.Context(), "u", Notification{Type: TypeMessage, Title: "three"})
	ps.next(t)
	waitFor(t, "failed", func() bool { return count(&s.metrics.failed) == 2 })
	ps.none(t, 100*time.Millisecond)
}

func TestQueueFullDropsWithoutBlocking(t *testing.T) {
	ps := newPushService(t, false)
	ps.block = make(chan struct{})
	s := newService(t, openStore(t, t.TempDir()), Config{AllowInsecureEndpoints: true, Workers: 1, QueueSize: 2})
	ps.vapidKey = s.PublicKey()
	if _, err := s.Subscribe(t.Context(), "u", newBrowser(t).subscription(ps.URL+"/p"), ""); err != nil {
		t.Fatal(err)
	}
	// The one worker fans out, then blocks in the send to the stuck service.
	s.Notify(t.Context(), "u", Notification{Type: TypeMessage, Title: "first"})
	waitFor(t, "worker stuck in send", func() bool { return len(s.queue) == 0 && ps.blocked() })

	start := time.Now()
	for i := range 1000 {
		s.Notify(t.Context(), "u", Notification{Type: TypeMessage, Title: fmt.Sprint(i)})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("1000 Notify calls took %v with a stuck push service", d)
	}
	if got := count(&s.metrics.dropped); got != 998 {
		t.Fatalf("dropped %d, want 998 (queue of 2)", got)
	}
	close(ps.block)
	// The stuck one and the two queued get through.
	waitFor(t, "queued sends", func() bool { return count(&s.metrics.sent) == 3 })
}

// blocked reports whether a request is waiting on the block channel.
func (p *pushService) blocked() bool { return p.waiting.Load() > 0 }

func TestNonPublicEndpointRefused(t *testing.T) {
	ps := newPushService(t, true)
	s := newService(t, openStore(t, t.TempDir()), Config{}) // the default: public addresses only
	ps.vapidKey = s.PublicKey()
	b := newBrowser(t)
	// https://127.0.0.1:port passes validation (it is https) but the dial
	// is refused: the address check, not a TLS failure, stops it.
	if _, err := s.Subscribe(t.Context(), "u", b.subscription(ps.URL+"/p"), ""); err != nil {
		t.Fatal(err)
	}
	s.Notify(t.Context(), "u", Notification{Type: TypeMessage, Title: "hi"})
	waitFor(t, "failed", func() bool { return count(&s.metrics.failed) == 1 })
	if count(&s.metrics.retries) != 0 {
		t.Fatal("a refused address was retried")
	}
	ps.none(t, 50*time.Millisecond)

	_, err := s.client.Get(ps.URL)
	if !errors.Is(err, ErrNonPublicAddress) {
		t.Fatalf("dial to loopback: %v, want ErrNonPublicAddress", err)
	}
	// Names are checked after resolution.
	_, err = s.client.Get(strings.Replace(ps.URL, "127.0.0.1", "localhost", 1))
	if !errors.Is(err, ErrNonPublicAddress) {
		t.Fatalf("dial to localhost: %v, want ErrNonPublicAddress", err)
	}
}

func TestSubscribeValidation(t *testing.T) {
	st := openStore(t, t.TempDir())
	s := newService(t, st, Config{}) // https only
	mux := http.NewServeMux()
	s.Routes(mux, userAuth)
	b := newBrowser(t)
	good := b.subscription("https://push.example.com/send/abc")
	with := func(f func(*Subscription)) Subscription { c := good; f(&c); return c }
	b64 := base64.RawURLEncoding.EncodeToString

	offCurve := make([]byte, 65)
	offCurve[0] = 4
	cases := map[string]any{
		"http endpoint":     with(func(s *Subscription) { s.Endpoint = "http://push.example.com/x" }),
		"no endpoint":       with(func(s *Subscription) { s.Endpoint = "" }),
		"relative endpoint": with(func(s *Subscription) { s.Endpoint = "/push" }),
		"no host":           with(func(s *Subscription) { s.Endpoint = "https:///x" }),
		"other scheme":      with(func(s *Subscription) { s.Endpoint = "ftp://push.example.com/x" }),
		"credentials":       with(func(s *Subscription) { s.Endpoint = "https://u:p@push.example.com/x" }),
		"endpoint too long": with(func(s *Subscription) { s.Endpoint = "https://push.example.com/" + strings.Repeat("a", 2048) }),
		"p256dh missing":    with(func(s *Subscription) { s.Keys.P256dh = "" }),
		"p256dh 64 bytes":   with(func(s *Subscription) { s.Keys.P256dh = b64(b.priv.PublicKey().Bytes()[1:]) }),
		"p256dh compressed": with(func(s *Subscription) {
			x, y := bigXY(b)
			_ = y
			s.Keys.P256dh = b64(elliptic.MarshalCompressed(elliptic.P256(), x, y))
		}),
		"p256dh off curve":  with(func(s *Subscription) { s.Keys.P256dh = b64(offCurve) }),
		"p256dh not base64": with(func(s *Subscription) { s.Keys.P256dh = "!!!" + s.Keys.P256dh[3:] }),
		"p256dh std base64": with(func(s *Subscription) {
			s.Keys.P256dh = base64.StdEncoding.EncodeToString(b.priv.PublicKey().Bytes()) + "+/"
		}),
		"auth 15 bytes":       with(func(s *Subscription) { s.Keys.Auth = b64(b.auth[:15]) }),
		"auth 17 bytes":       with(func(s *Subscription) { s.Keys.Auth = b64(append(b.auth, 0)) }),
		"auth missing":        with(func(s *Subscription) { s.Keys.Auth = "" }),
		"not json":            "{endpoint",
		"array":               "[]",
		"empty body":          "",
		"body over the limit": `{"endpoint":"` + strings.Repeat("a", 20<<10) + `"}`,
	}
	for name, body := range cases {
		w := call(t, mux, "POST", "/api/v1/push/subscriptions", "u", body)
		var e struct {
			Code, Message string
		}
		json.Unmarshal(w.Body.Bytes(), &e)
		if w.Code != http.StatusBadRequest && w.Code != http.StatusRequestEntityTooLarge || e.Code == "" || e.Message == "" {
			t.Errorf("%s: %d %s", name, w.Code, w.Body)
		}
	}
	if subs, _ := st.PushSubscriptions(t.Context(), "u"); len(subs) != 0 {
		t.Fatalf("bad input stored: %+v", subs)
	}

	// Padded base64url keys are accepted and stored unpadded.
	padded := with(func(s *Subscription) {
		s.Keys.P256dh = base64.URLEncoding.EncodeToString(b.priv.PublicKey().Bytes())
		s.Keys.Auth = base64.URLEncoding.EncodeToString(b.auth)
	})
	if w := call(t, mux, "POST", "/api/v1/push/subscriptions", "u", padded); w.Code != http.StatusCreated {
		t.Fatalf("padded keys: %d %s", w.Code, w.Body)
	}
	if subs, _ := st.PushSubscriptions(t.Context(), "u"); len(subs) != 1 || subs[0].P256dh != good.Keys.P256dh || subs[0].Auth != good.Keys.Auth {
		t.Fatalf("stored %+v", subs)
	}

	// Without a user the auth function answers 401 and nothing happens.
	if w := call(t, mux, "POST", "/api/v1/push/subscriptions", "", good); w.Code != http.StatusUnauthorized {
		t.Fatalf("anonymous subscribe: %d", w.Code)
	}
	if w := call(t, mux, "DELETE", "/api/v1/push/subscriptions", "", map[string]string{"endpoint": good.Endpoint}); w.Code != http.StatusUnauthorized {
		t.Fatalf("anonymous unsubscribe: %d", w.Code)
	}
}

func bigXY(b *browser) (x, y *big.Int) {
	raw := b.priv.PublicKey().Bytes()
	return new(big.Int).SetBytes(raw[1:33]), new(big.Int).SetBytes(raw[33:])
}

func TestUnsubscribeAndLimit(t *testing.T) {
	s := newService(t, openStore(t, t.TempDir()), Config{})
	mux := http.NewServeMux()
	s.Routes(mux, userAuth)
	var first string
	for i := range MaxSubscriptions + 1 {
		sub := newBrowser(t).subscription(fmt.Sprintf("https://push.example.com/%d", i))
		if i == 0 {
			first = sub.Endpoint
		}
		if w := call(t, mux, "POST", "/api/v1/push/subscriptions", "u", sub); w.Code != http.StatusCreated {
			t.Fatalf("subscribe %d: %d %s", i, w.Code, w.Body)
		}
		time.Sleep(2 * time.Millisecond) // distinct creation times
	}
	subs, _ := s.Subscriptions(t.Context(), "u")
	if len(subs) != MaxSubscriptions {
		t.Fatalf("%d subscriptions, want %d", len(subs), MaxSubscriptions)
	}
	for _, sub := range subs {
		if sub.Endpoint == first {
			t.Fatal("the oldest subscription was kept")
		}
	}

	ep := subs[0].Endpoint
	if w := call(t, mux, "DELETE", "/api/v1/push/subscriptions", "mallory", map[string]string{"endpoint": ep}); w.Code != http.StatusNotFound {
		t.Fatalf("other user's delete: %d", w.Code)
	}
	if w := call(t, mux, "DELETE", "/api/v1/push/subscriptions", "u", map[string]string{}); w.Code != http.StatusBadRequest {
		t.Fatalf("delete without endpoint: %d", w.Code)
	}
	if w := call(t, mux, "DELETE", "/api/v1/push/subscriptions", "u", map[string]string{"endpoint": ep}); w.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	if w := call(t, mux, "DELETE", "/api/v1/push/subscriptions", "u", map[string]string{"endpoint": ep}); w.Code != http.StatusNotFound {
		t.Fatalf("delete twice: %d", w.Code)
	}
	if err := s.UnsubscribeAll(t.Context(), "u"); err != nil {
		t.Fatal(err)
	}
	if subs, _ := s.Subscriptions(t.Context(), "u"); len(subs) != 0 {
		t.Fatalf("after UnsubscribeAll: %d left", len(subs))
	}
}

func TestKeysPersistAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(t.Context(), st, Config{Subject: testSubject, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	key := s.PublicKey()
	sub := newBrowser(t).subscription("https://push.example.com/x")
	if _, err := s.Subscribe(t.Context(), "u", sub, ""); err != nil {
		t.Fatal(err)
	}
	s.Close()
	st.Close()

	st2 := openStore(t, dir)
	s2 := newService(t, st2, Config{Subject: "https://chat.example.com"})
	if s2.PublicKey() != key {
		t.Fatalf("key changed across restart: %s -> %s", key, s2.PublicKey())
	}
	if subs, _ := s2.Subscriptions(t.Context(), "u"); len(subs) != 1 || subs[0].Endpoint != sub.Endpoint {
		t.Fatalf("subscriptions after restart: %+v", subs)
	}
}

func TestConfig(t *testing.T) {
	st := openStore(t, t.TempDir())
	for _, subj := range []string{"", "mailto:", "admin@example.com", "http://example.com", "https://"} {
		if _, err := New(t.Context(), st, Config{Subject: subj}); err == nil {
			t.Errorf("subject %q accepted", subj)
		}
	}
	// Registering twice on one registry is an error, not a panic.
	reg := prometheus.NewRegistry()
	s := newService(t, st, Config{Registry: reg})
	if s.subscriber != "ops@example.com" {
		t.Fatalf("subscriber %q: webpush-go adds mailto: itself", s.subscriber)
	}
	if _, err := New(t.Context(), st, Config{Subject: testSubject, Registry: reg}); err == nil {
		t.Fatal("second registration accepted")
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Thu, 01 Jan 2026 00:00:30 GMT": 30 * time.Second,
		"Wed, 31 Dec 2025 23:00:00 GMT": 0,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestDecryptRFC8291Example checks the test's own decryption against the
// worked example of RFC 8291 §5, so the delivery tests rest on a decryptor
// known to be right rather than on agreement with the library.
func TestDecryptRFC8291Example(t *testing.T) {
	d := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	priv, err := ecdh.P256().NewPrivateKey(d("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"))
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{priv: priv, auth: d("BTBZMqHH6r4Tts7J_aSIgg")}
	body := d("DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")
	plain, err := b.decrypt(body)
	if err != nil || string(plain) != "When I grow up, I want to be a watermelon" {
		t.Fatalf("decrypted %q, %v", plain, err)
	}
	body[len(body)-1] ^= 1
	if _, err := b.decrypt(body); err == nil {
		t.Fatal("a tampered body decrypted")
	}
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

func TestLogsHideEndpointTokens(t *testing.T) {
	ps := newPushService(t, false)
	var logs syncBuffer
	s, err := New(t.Context(), openStore(t, t.TempDir()), Config{Subject: testSubject, AllowInsecureEndpoints: true,
		RetryDelay: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ps.vapidKey = s.PublicKey()
	// A failing then gone endpoint, and one nobody listens on (network errors).
	s.Subscribe(t.Context(), "u", newBrowser(t).subscription(ps.URL+"/send/SECRET-TOKEN-1"), "")
	s.Subscribe(t.Context(), "u", newBrowser(t).subscription("http://127.0.0.1:1/send/SECRET-TOKEN-2"), "")
	ps.setScript(500, 410)
	s.Notify(t.Context(), "u", Notification{Type: TypeMessage, Title: "hi"})
	waitFor(t, "removal and failure", func() bool { return count(&s.metrics.removed) == 1 && count(&s.metrics.failed) == 1 })
	if out := logs.String(); strings.Contains(out, "SECRET-TOKEN") || !strings.Contains(out, "127.0.0.1:1") {
		t.Fatalf("logs:\n%s", out)
	}
}
