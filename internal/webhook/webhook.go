// Package webhook delivers events (a new message, ...) to HTTP endpoints that
// an admin configured, for bots and integrations.
//
// Each delivery is a POST of {"id","type","time","data"} signed with the
// endpoint's secret (see Sign and Verify). Publish never blocks the caller:
// deliveries go through a bounded queue to a small worker pool and are retried
// with exponential backoff. A delivery accepted by Publish is attempted until
// it succeeds or runs out of attempts while the process runs; deliveries are
// dropped (and counted) only when the queue is full, and those pending at
// Close are lost: nothing is persisted.
//
// Endpoints are refused when they resolve to loopback, private, link-local,
// multicast or other non-public addresses, checked at dial time, unless
// Config.AllowPrivate is set: otherwise anyone who can configure a webhook
// could make the server send requests into its own network.
package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/store"
)

// Event types.
const (
	// EventMessageCreated is published by chat for every new message.
	EventMessageCreated = "message.created"
	// EventPing is sent by the test endpoint, whatever the webhook's events.
	EventPing = "ping"
)

// Event is something that happened, to be delivered to the webhooks that
// asked for its type.
type Event struct {
	Type string
	Time time.Time // zero means now
	Data any       // marshalled to JSON by Publish

	// Conversation is the conversation the event belongs to, matched
	// against a webhook's conversation filter; not part of the payload (Data
	// carries it). Empty for events outside conversations: those reach only
	// webhooks without a filter.
	Conversation string
}

// Config configures a Dispatcher. Zero values take the defaults shown.
type Config struct {
	// AllowPrivate lets webhooks reach loopback, private and link-local
	// addresses. Off by default; turn it on only when the integrations run
	// on the same host or network and everyone who can add a webhook is
	// trusted with that network. Tests set it to use httptest servers.
	AllowPrivate bool
	// EventTypes are the event types a webhook may subscribe to;
	// [EventMessageCreated].
	EventTypes []string

	Workers        int           // concurrent deliveries; 4
	QueueSize      int           // deliveries queued or waiting to retry; 10000
	MaxAttempts    int           // attempts per delivery; 5
	RetryBase      time.Duration // first retry; doubles after (10 s: about 2.5 minutes over 5 attempts)
	MaxRetryDelay  time.Duration // longest wait, also for Retry-After; 5 min
	Timeout        time.Duration // per attempt; 10 s
	ReloadInterval time.Duration // re-read webhooks from the store (other servers' changes); 1 min

	// Registry, if set, gets the dispatcher's counters.
	Registry *prometheus.Registry
	Logger   *slog.Logger
}

// Store is the persistence the dispatcher needs; *store.Store implements it.
type Store interface {
	CreateWebhook(ctx context.Context, w store.Webhook) (store.Webhook, error)
	Webhook(ctx context.Context, id string) (store.Webhook, error)
	Webhooks(ctx context.Context) ([]store.Webhook, error)
	SetWebhookEnabled(ctx context.Context, id string, enabled bool) error
	DeleteWebhook(ctx context.Context, id string) error
}

// Dispatcher delivers events to webhooks. It is safe for concurrent use.
type Dispatcher struct {
	cfg     Config
	st      Store
	log     *slog.Logger
	client  *http.Client
	metrics metrics

	hooks   atomic.Pointer[map[string]store.Webhook] // enabled webhooks by id
	queue   chan *delivery
	pending atomic.Int64 // deliveries queued, in flight or waiting to retry; <= cap(queue)

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// delivery is one event to one webhook, attempted until it succeeds or
// attempts run out. Its id and body stay the same across attempts, so a
// receiver can tell a retry from a new event.
type delivery struct {
	hookID    string
	id        string // X-Switchboard-Delivery
	eventType string
	body      []byte
	attempt   int
}

// New starts a dispatcher with the webhooks in st. Call Close to stop it.
func New(ctx context.Context, st Store, cfg Config) (*Dispatcher, error) {
	cfg.setDefaults()
	d := &Dispatcher{
		cfg:    cfg,
		st:     st,
		log:    cfg.Logger,
		client: newClient(cfg.Timeout, cfg.AllowPrivate),
		queue:  make(chan *delivery, cfg.QueueSize),
	}
	if cfg.Registry != nil {
		if err := d.metrics.register(cfg.Registry); err != nil {
			return nil, fmt.Errorf("webhook: metrics: %w", err)
		}
	}
	if err := d.Reload(ctx); err != nil {
		return nil, err
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for range cfg.Workers {
		d.wg.Go(d.work)
	}
	d.wg.Go(d.reloadLoop)
	return d, nil
}

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Workers, 4)
	def(&c.QueueSize, 10000)
	def(&c.MaxAttempts, 5)
	defDur(&c.RetryBase, 10*time.Second)
	defDur(&c.MaxRetryDelay, 5*time.Minute)
	defDur(&c.Timeout, 10*time.Second)
	defDur(&c.ReloadInterval, time.Minute)
	if len(c.EventTypes) == 0 {
		c.EventTypes = []string{EventMessageCreated}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Close stops the dispatcher. Deliveries not yet made are lost; how many is
// logged.
func (d *Dispatcher) Close() {
	d.cancel()
	d.wg.Wait()
	if n := d.pending.Load(); n > 0 {
		d.log.Warn("webhook: undelivered events at shutdown", "deliveries", n)
	}
}

// Reload re-reads the webhooks from the store. The HTTP API calls it after
// each change; a timer calls it for changes made elsewhere.
func (d *Dispatcher) Reload(ctx context.Context) error {
	all, err := d.st.Webhooks(ctx)
	if err != nil {
		return fmt.Errorf("webhook: load: %w", err)
	}
	hooks := make(map[string]store.Webhook, len(all))
	for _, h := range all {
		if h.Enabled {
			hooks[h.ID] = h
		}
	}
	d.hooks.Store(&hooks)
	return nil
}

func (d *Dispatcher) reloadLoop() {
	t := time.NewTicker(d.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
			if err := d.Reload(d.ctx); err != nil && d.ctx.Err() == nil {
				d.log.Error("webhook: reload", "err", err)
			}
		}
	}
}

// payload is the JSON body of a delivery.
type payload struct {
	ID   string    `json:"id"`
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	Data any       `json:"data"`
}

// Publish queues e for every enabled webhook that subscribes to its type
// (and its conversation, if the webhook filters by one). It never blocks:
// when the queue is full the delivery is dropped and counted. e.Data is
// encoded before Publish returns, so the caller may reuse it.
func (d *Dispatcher) Publish(e Event) {
	if d.ctx.Err() != nil || e.Type == "" {
		return
	}
	var matched []store.Webhook
	for _, h := range *d.hooks.Load() {
		if slices.Contains(h.Events, e.Type) && (h.Conversation == "" || h.Conversation == e.Conversation) {
			matched = append(matched, h)
		}
	}
	if len(matched) == 0 {
		return
	}
	body, err := encode(e)
	if err != nil {
		d.log.Error("webhook: encode event", "type", e.Type, "err", err)
		d.metrics.failed.Add(uint64(len(matched)))
		return
	}
	for _, h := range matched {
		if !d.enqueue(&delivery{hookID: h.ID, id: randomID(), eventType: e.Type, body: body}) {
			d.log.Warn("webhook: queue full, delivery dropped", "webhook", h.ID, "type", e.Type)
		}
	}
}

func encode(e Event) ([]byte, error) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	return json.Marshal(payload{ID: randomID(), Type: e.Type, Time: e.Time.UTC(), Data: e.Data})
}

// enqueue adds a new delivery unless QueueSize deliveries are pending.
// Counting pending deliveries, not just queued ones, keeps retries within
// the queue's capacity: re-queuing a retry never blocks and never drops.
func (d *Dispatcher) enqueue(dl *delivery) bool {
	if d.pending.Add(1) > int64(cap(d.queue)) {
		d.pending.Add(-1)
		d.metrics.dropped.Add(1)
		return false
	}
	d.queue <- dl
	return true
}

func (d *Dispatcher) work() {
	for {
		select {
		case <-d.ctx.Done():
			return
		case dl := <-d.queue:
			d.attempt(dl)
		}
	}
}

// attempt makes one attempt at dl and then finishes it or schedules a retry.
func (d *Dispatcher) attempt(dl *delivery) {
	h, ok := (*d.hooks.Load())[dl.hookID]
	if !ok {
		// Deleted or disabled since: its admin no longer wants it.
		d.pending.Add(-1)
		return
	}
	dl.attempt++
	status, wait, err := d.post(d.ctx, h, dl)
	log := d.log.With("webhook", h.ID, "host", host(h.URL), "delivery", dl.id, "attempt", dl.attempt)
	if err == nil {
		d.pending.Add(-1)
		d.metrics.delivered.Add(1)
		log.Debug("webhook: delivered", "status", status)
		return
	}
	if d.ctx.Err() != nil {
		return // closing; counted as undelivered by Close
	}
	backoff := d.cfg.RetryBase << (dl.attempt - 1)
	backoff += mrand.N(backoff/5 + 1) // jitter: spread retries to one endpoint
	wait = max(wait, backoff)
	if errors.Is(err, ErrNonPublicAddress) || dl.attempt >= d.cfg.MaxAttempts || wait > d.cfg.MaxRetryDelay {
		d.pending.Add(-1)
		d.metrics.failed.Add(1)
		log.Warn("webhook: delivery failed, giving up", "err", err)
		return
	}
	d.metrics.retries.Add(1)
	log.Info("webhook: delivery failed, will retry", "err", err, "in", wait)
	// A timer, not a sleeping worker, so one dead endpoint cannot stall the
	// others. The send cannot block: dl still counts as pending.
	time.AfterFunc(wait, func() {
		select {
		case d.queue <- dl:
		case <-d.ctx.Done():
		}
	})
}

// errStatus is a non-2xx answer.
type errStatus int

func (e errStatus) Error() string { return "HTTP " + strconv.Itoa(int(e)) }

// post sends one attempt of dl to h. It returns the HTTP status (0 if none),
// how long the endpoint asked us to wait (Retry-After), and an error for
// anything but a 2xx answer.
func (d *Dispatcher) post(ctx context.Context, h store.Webhook, dl *delivery) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(dl.body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Switchboard-Webhook/1")
	req.Header.Set("X-Switchboard-Event", dl.eventType)
	req.Header.Set("X-Switchboard-Delivery", dl.id)
	// Signed per attempt, so the timestamp is fresh for receivers that
	// refuse old signatures.
	req.Header.Set("X-Switchboard-Signature", Sign(h.Secret, time.Now(), dl.body))
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, 0, redact(err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, 0, nil
	}
	var wait time.Duration
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		wait = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return resp.StatusCode, wait, errStatus(resp.StatusCode)
}

// redact drops the URL from an HTTP client error: webhook URLs often carry
// a token in the path or query, and these errors are logged and shown.
func redact(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// retryAfter parses a Retry-After header: seconds or an HTTP date. Zero when
// absent or invalid.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 || secs > 86400 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// TestResult is the outcome of Test.
type TestResult struct {
	DeliveryID string `json:"deliveryId"`
	Delivered  bool   `json:"delivered"`
	Status     int    `json:"status,omitempty"` // HTTP status, if there was an answer
	Error      string `json:"error,omitempty"`
}

// Test sends a ping event to webhook id now, once, whether or not it is
// enabled, and reports the outcome. It returns store.ErrNotFound if there is
// no such webhook.
func (d *Dispatcher) Test(ctx context.Context, id string) (TestResult, error) {
	h, err := d.st.Webhook(ctx, id)
	if err != nil {
		return TestResult{}, fmt.Errorf("webhook: test: %w", err)
	}
	body, err := encode(Event{Type: EventPing, Data: map[string]string{
		"webhookId": h.ID,
		"message":   "Test delivery from Switchboard.",
	}})
	if err != nil {
		return TestResult{}, fmt.Errorf("webhook: test: %w", err)
	}
	dl := &delivery{hookID: h.ID, id: randomID(), eventType: EventPing, body: body, attempt: 1}
	status, _, err := d.post(ctx, h, dl)
	res := TestResult{DeliveryID: dl.id, Delivered: err == nil, Status: status}
	if err != nil {
		res.Error = err.Error()
	}
	return res, nil
}

// host is what logs show of a webhook URL: its path and query may hold a token.
func host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	return u.Host
}

// randomID returns 128 random bits in hex.
func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newClient is the HTTP client for deliveries: a timeout, no redirects (a
// redirect is an answer, and following it could lead anywhere), no proxy, and
// unless allowPrivate, no connections to non-public addresses, checked at dial
// time so DNS cannot point us at the internal network.
func newClient(timeout time.Duration, allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = publicOnly
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         dialer.DialContext,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: timeout,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
