// Package push sends Web Push notifications (RFC 8030 delivery, RFC 8291
// message encryption, RFC 8292 VAPID) to users' browsers, so a user hears of
// a call or a message while no Switchboard tab is open.
//
// The server has one VAPID key pair, generated on first start and kept in the
// store: browsers bind each subscription to the public key, so a new key would
// silently orphan every subscription. Browsers subscribe through Routes; chat
// and calls call Notify, which never blocks: a bounded queue and a small
// worker pool do the sending, retries and clean-up of expired subscriptions.
//
// What a notification says is the caller's decision. In particular Body may
// carry message text only if the caller allows it (a chat setting or
// policy): the payload is end-to-end encrypted to the browser, but the
// notification is then shown on a lock screen. Callers that must not reveal
// content send a generic Body ("New message") and let the app fetch the rest.
package push

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	webpush "github.com/SherClockHolmes/webpush-go"
	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/store"
)

// Type is the kind of notification; the service worker picks its icon,
// actions and grouping from it.
type Type string

const (
	TypeMessage Type = "message"
	TypeCall    Type = "call"
	TypeMention Type = "mention"
)

// Urgency is the RFC 8030 Urgency header: how eagerly the push service wakes a
// device on battery.
type Urgency string

const (
	UrgencyVeryLow Urgency = "very-low"
	UrgencyLow     Urgency = "low"
	UrgencyNormal  Urgency = "normal"
	UrgencyHigh    Urgency = "high"
)

// Defaults by type: an unanswered call is worthless after a minute, a message
// is still worth showing the next day.
const (
	CallTTL    = 60 * time.Second
	MessageTTL = 24 * time.Hour
)

// Limits on what one notification carries. Web Push payloads are at most
// about 4 KB; longer text is cut (with an ellipsis) rather than failing.
const (
	maxTitle = 200  // runes
	maxBody  = 1000 // runes
	maxURL   = 2048 // bytes
	maxTag   = 128  // bytes
)

// Notification is what the service worker receives, as JSON:
//
//	{"type":"message","title":"Alice","body":"Lunch?","url":"/c/123","tag":"conv-123","conversationId":"123"}
//
// URL should be a path on our own origin for the service worker to open. Tag
// lets the browser replace an earlier notification with the same tag; it also
// becomes the push Topic, so the push service keeps only the latest pending
// notification per tag for an offline device.
type Notification struct {
	Type           Type   `json:"type"`
	Title          string `json:"title"`
	Body           string `json:"body"` // message text only if the caller allows it; see the package doc
	URL            string `json:"url"`
	Tag            string `json:"tag"`
	ConversationID string `json:"conversationId"`

	// TTL is how long the push service keeps the notification for an
	// offline device; zero means CallTTL for calls, MessageTTL otherwise.
	TTL time.Duration `json:"-"`
	// Urgency defaults to high for calls and normal otherwise.
	Urgency Urgency `json:"-"`
}

// Config configures a Service. Zero values take the defaults shown.
type Config struct {
	// Subject identifies the operator to push services (the VAPID "sub"
	// claim): "mailto:admin@example.com" or an https URL such as the
	// server's public URL. Required.
	Subject string
	// AllowInsecureEndpoints accepts http:// endpoints and delivers to
	// loopback and private addresses. For tests only: endpoints come from
	// browsers, that is from users, and real push services are public https.
	AllowInsecureEndpoints bool

	Workers       int           // concurrent sends; 4
	QueueSize     int           // queued notifications and sends; 1000
	MaxAttempts   int           // tries per subscription on 429/5xx/network errors; 3
	RetryDelay    time.Duration // first retry; doubles after; 2 s
	MaxRetryDelay time.Duration // longest wait, also for Retry-After; 60 s
	Timeout       time.Duration // per request; 10 s

	// Registry, if set, gets the service's counters.
	Registry *prometheus.Registry
	Logger   *slog.Logger
}

// Store is the persistence the service needs; *store.Store implements it.
type Store interface {
	EnsureVAPIDKeys(ctx context.Context, candidate store.VAPIDKeys) (store.VAPIDKeys, error)
	SavePushSubscription(ctx context.Context, sub store.PushSubscription, keep int) (int, error)
	PushSubscriptions(ctx context.Context, userID string) ([]store.PushSubscription, error)
	DeletePushSubscription(ctx context.Context, userID, endpoint string) error
	DeleteUserPushSubscriptions(ctx context.Context, userID string) (int, error)
	RemovePushEndpoint(ctx context.Context, endpoint, p256dh, auth string) error
}

// Service sends notifications. It is safe for concurrent use.
type Service struct {
	cfg        Config
	st         Store
	log        *slog.Logger
	publicKey  string // base64url, 65-byte uncompressed point
	privateKey string // base64url, 32-byte scalar
	subscriber string // Subject as webpush-go wants it; see New
	client     *http.Client
	metrics    *metrics

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	queue  chan job
	wg     sync.WaitGroup
}

// job is either a notification to fan out to a user's subscriptions (sub is
// nil) or one send to one subscription.
type job struct {
	userID   string
	n        Notification
	sub      *store.PushSubscription
	payload  []byte
	attempt  int       // sends so far
	deadline time.Time // the notification's TTL ends; no point retrying after
}

// New loads the VAPID key pair from st, creating it on first start, and
// starts the workers. Call Close to stop them.
func New(ctx context.Context, st Store, cfg Config) (*Service, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	keys, err := loadKeys(ctx, st)
	if err != nil {
		return nil, err
	}
	m := &metrics{}
	if cfg.Registry != nil {
		if err := m.register(cfg.Registry); err != nil {
			return nil, fmt.Errorf("push: metrics: %w", err)
		}
	}
	s := &Service{
		cfg:        cfg,
		st:         st,
		log:        cfg.Logger,
		publicKey:  keys.PublicKey,
		privateKey: keys.PrivateKey,
		// webpush-go prefixes "mailto:" to any subject not starting with
		// "https:", so a configured "mailto:x" would become "mailto:mailto:x".
		subscriber: strings.TrimPrefix(cfg.Subject, "mailto:"),
		client:     newClient(cfg.Timeout, cfg.AllowInsecureEndpoints),
		metrics:    m,
		queue:      make(chan job, cfg.QueueSize),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for range cfg.Workers {
		s.wg.Go(s.work)
	}
	return s, nil
}

func (c *Config) setDefaults() error {
	switch {
	case strings.HasPrefix(c.Subject, "mailto:") && len(c.Subject) > len("mailto:"):
	case strings.HasPrefix(c.Subject, "https://"):
		if u, err := url.Parse(c.Subject); err != nil || u.Host == "" {
			return fmt.Errorf("push: subject %q is not a valid https URL", c.Subject)
		}
	default:
		return fmt.Errorf("push: subject %q must be a mailto: address or an https:// URL (push services use it to contact the operator)", c.Subject)
	}
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
	def(&c.QueueSize, 1000)
	def(&c.MaxAttempts, 3)
	defDur(&c.RetryDelay, 2*time.Second)
	defDur(&c.MaxRetryDelay, time.Minute)
	defDur(&c.Timeout, 10*time.Second)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// loadKeys returns the stored VAPID keys, storing a new pair on first start,
// and checks that they form a valid pair.
func loadKeys(ctx context.Context, st Store) (store.VAPIDKeys, error) {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return store.VAPIDKeys{}, fmt.Errorf("push: generate vapid key: %w", err)
	}
	keys, err := st.EnsureVAPIDKeys(ctx, store.VAPIDKeys{
		PublicKey:  base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
		PrivateKey: base64.RawURLEncoding.EncodeToString(priv.Bytes()),
	})
	if err != nil {
		return store.VAPIDKeys{}, fmt.Errorf("push: %w", err)
	}
	// A damaged pair would sign tokens push services reject; say so now.
	raw, err := base64.RawURLEncoding.DecodeString(keys.PrivateKey)
	if err != nil {
		return store.VAPIDKeys{}, fmt.Errorf("push: stored vapid private key: %w", err)
	}
	stored, err := ecdh.P256().NewPrivateKey(raw)
	if err != nil {
		return store.VAPIDKeys{}, fmt.Errorf("push: stored vapid private key: %w", err)
	}
	if base64.RawURLEncoding.EncodeToString(stored.PublicKey().Bytes()) != keys.PublicKey {
		return store.VAPIDKeys{}, errors.New("push: stored vapid public key does not match the private key")
	}
	return keys, nil
}

// PublicKey returns the VAPID public key, base64url: the applicationServerKey
// browsers subscribe with.
func (s *Service) PublicKey() string { return s.publicKey }

// Close stops the workers. Queued and retrying notifications are dropped.
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

// Notify sends n to every subscription of userID, asynchronously: it never
// blocks, and when the queue is full the notification is dropped and counted.
// ctx only carries values for logging; delivery outlives the call.
func (s *Service) Notify(ctx context.Context, userID string, n Notification) {
	if userID == "" || s.ctx.Err() != nil {
		return
	}
	switch n.Type {
	case TypeMessage, TypeMention, TypeCall:
	default:
		s.log.WarnContext(ctx, "push: notification of unknown type not sent", "type", n.Type)
		return
	}
	if !s.enqueue(job{userID: userID, n: n}) {
		s.log.WarnContext(ctx, "push: queue full, notification dropped", "user", userID, "type", n.Type)
	}
}

// enqueue adds j to the queue unless it is full; drops are counted.
func (s *Service) enqueue(j job) bool {
	select {
	case s.queue <- j:
		return true
	default:
		s.metrics.dropped.Add(1)
		return false
	}
}

func (s *Service) work() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case j := <-s.queue:
			if j.sub == nil {
				s.fanOut(j)
			} else {
				s.send(j)
			}
		}
	}
}

// fanOut turns a notification into one send per subscription, so one user's
// slow push service does not hold up the others' devices.
func (s *Service) fanOut(j job) {
	subs, err := s.st.PushSubscriptions(s.ctx, j.userID)
	if err != nil {
		if s.ctx.Err() == nil {
			s.log.Error("push: load subscriptions", "user", j.userID, "err", err)
			s.metrics.failed.Add(1)
		}
		return
	}
	if len(subs) == 0 {
		return
	}
	n := j.n.normalized()
	payload, err := json.Marshal(n)
	if err != nil {
		s.log.Error("push: encode notification", "err", err)
		s.metrics.failed.Add(1)
		return
	}
	deadline := time.Now().Add(n.TTL)
	for i := range subs {
		sj := job{userID: j.userID, n: n, sub: &subs[i], payload: payload, deadline: deadline}
		if !s.enqueue(sj) {
			s.log.Warn("push: queue full, send dropped", "user", j.userID, "push_service", origin(subs[i].Endpoint))
		}
	}
}

// normalized fills the defaults and cuts the text to fit a push payload.
func (n Notification) normalized() Notification {
	if n.TTL <= 0 {
		n.TTL = MessageTTL
		if n.Type == TypeCall {
			n.TTL = CallTTL
		}
	}
	if n.Urgency == "" {
		n.Urgency = UrgencyNormal
		if n.Type == TypeCall {
			n.Urgency = UrgencyHigh
		}
	}
	n.Title = truncate(n.Title, maxTitle)
	n.Body = truncate(n.Body, maxBody)
	if len(n.URL) > maxURL {
		n.URL = ""
	}
	if len(n.Tag) > maxTag {
		n.Tag = n.Tag[:maxTag]
		for !utf8.ValidString(n.Tag) {
			n.Tag = n.Tag[:len(n.Tag)-1]
		}
	}
	return n
}

func truncate(s string, runes int) string {
	if utf8.RuneCountInString(s) <= runes {
		return s
	}
	return string([]rune(s)[:runes-1]) + "…"
}

// send makes one attempt to deliver j and decides what follows from the
// answer: done, subscription removed, retry later, or give up.
func (s *Service) send(j job) {
	j.attempt++
	sub := j.sub
	if time.Now().After(j.deadline) {
		// Waited in the queue past its TTL: the push service would drop it.
		s.metrics.failed.Add(1)
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	// webpush-go pads by appending to the message slice: with spare capacity
	// it would write into the payload shared by this user's other sends.
	// A full slice expression makes it copy.
	msg := j.payload[:len(j.payload):len(j.payload)]
	resp, err := webpush.SendNotificationWithContext(ctx, msg, &webpush.Subscription{
		Endpoint: sub.Endpoint,
		Keys:     webpush.Keys{P256dh: sub.P256dh, Auth: sub.Auth},
	}, &webpush.Options{
		HTTPClient:      s.client,
		Subscriber:      s.subscriber,
		TTL:             int(math.Ceil(time.Until(j.deadline).Seconds())), // less on retries
		Urgency:         webpush.Urgency(j.n.Urgency),
		Topic:           topic(j.n.Tag),
		VAPIDPublicKey:  s.publicKey,
		VAPIDPrivateKey: s.privateKey,
	})
	log := s.log.With("user", j.userID, "push_service", origin(sub.Endpoint), "attempt", j.attempt)
	if err != nil {
		if s.ctx.Err() != nil {
			return // closing
		}
		// webpush-go fails before sending only on bad keys or a too large
		// payload, and a refused address stays refused: none gets better by
		// retrying. Network errors come wrapped in *url.Error.
		ue, isNet := errors.AsType[*url.Error](err)
		if isNet {
			// Its message quotes the endpoint URL, which is a secret.
			err = ue.Err
		}
		if isNet && !errors.Is(err, ErrNonPublicAddress) {
			s.retry(j, 0, log, err.Error())
			return
		}
		log.Warn("push: not sent", "err", err)
		s.metrics.failed.Add(1)
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()

	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		s.metrics.sent.Add(1)
	case code == http.StatusNotFound || code == http.StatusGone:
		// The browser unsubscribed or the subscription expired (RFC 8030 §7.3).
		err := s.st.RemovePushEndpoint(s.ctx, sub.Endpoint, sub.P256dh, sub.Auth)
		switch {
		case err == nil:
			s.metrics.removed.Add(1)
			log.Info("push: subscription expired, removed", "status", code)
		case errors.Is(err, store.ErrNotFound):
			// Already removed, or renewed with new keys meanwhile.
		default:
			log.Error("push: remove expired subscription", "err", err)
		}
	case code == http.StatusTooManyRequests || code >= 500:
		s.retry(j, retryAfter(resp.Header.Get("Retry-After"), time.Now()), log, resp.Status)
	default:
		// 400 (bad request), 401/403 (VAPID rejected), 413 (too large):
		// our fault or the service's policy; retrying sends the same thing.
		log.Warn("push: rejected by push service", "status", code)
		s.metrics.failed.Add(1)
	}
}

// retry schedules j again after wait (the service's Retry-After) or the
// backoff, whichever is longer, unless attempts run out, the wait is longer
// than MaxRetryDelay, or the notification would expire first.
func (s *Service) retry(j job, wait time.Duration, log *slog.Logger, reason string) {
	backoff := s.cfg.RetryDelay << (j.attempt - 1)
	backoff += mrand.N(backoff/4 + 1) // jitter, so retries of many sends spread out
	wait = max(wait, backoff)
	if j.attempt >= s.cfg.MaxAttempts || wait > s.cfg.MaxRetryDelay || time.Now().Add(wait).After(j.deadline) {
		log.Warn("push: giving up", "reason", reason)
		s.metrics.failed.Add(1)
		return
	}
	s.metrics.retries.Add(1)
	log.Debug("push: will retry", "reason", reason, "in", wait)
	// A timer, not a sleeping worker: a struggling push service must not
	// hold up the other sends. After Close the timer fires into nothing.
	time.AfterFunc(wait, func() {
		if s.ctx.Err() == nil && !s.enqueue(j) {
			log.Warn("push: queue full, retry dropped")
		}
	})
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

// topic turns a tag into an RFC 8030 Topic (at most 32 base64url characters),
// so the push service replaces a pending notification with a newer one of the
// same tag. Hashed, because tags may be longer or use other characters.
func topic(tag string) string {
	if tag == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(tag))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:32]
}

// origin is what logs show of an endpoint: the rest is a bearer capability
// (anyone who has the URL can push to the browser).
func origin(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "?"
	}
	return u.Scheme + "://" + u.Host
}

// newClient is the HTTP client for push services: a timeout, no redirects (a
// push service answers, it does not redirect), no proxy, and unless insecure
// endpoints are allowed, no connections to non-public addresses, checked at
// dial time so a DNS name cannot point us at the internal network.
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
