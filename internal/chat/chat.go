// Package chat is people and messages: conversations, their message logs,
// receipts, typing, presence, notifications and calls between people.
//
// The stored log is the source of truth and the socket only speeds delivery
// (docs/architecture.md, "Messaging"): every change is appended to a
// conversation's log with a gap-free sequence number before anyone hears of
// it, and a device that missed something asks for everything after the last
// entry it has. Presence and typing live in memory only.
package chat

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// Identity is the signed-in person a request or connection acts for.
type Identity struct {
	UserID      string
	Username    string
	DisplayName string
	Role        string // admin, agent or member
	Session     string // the id of the sign-in session or API token used (see Disconnect)
	// Origins are more origins whose pages may open this identity's socket:
	// a visitor's widget is on the organisation's website.
	Origins []string
}

// Admin reports whether the identity has the admin role.
func (id Identity) Admin() bool { return id.Role == "admin" }

// Directory looks people up; the accounts package implements it.
type Directory interface {
	User(ctx context.Context, id string) (store.User, error)
	UserByUsername(ctx context.Context, username string) (store.User, error)
}

// Notification is what a push notification says (see Notifier).
type Notification struct {
	Type         string // message, mention or call
	Title        string
	Body         string
	URL          string
	Tag          string
	Conversation string
	Urgent       bool // calls: high urgency, short TTL
}

// Notifier reaches a person's devices that are not connected (Web Push).
type Notifier interface {
	Notify(ctx context.Context, userID string, n Notification)
}

// Hooks receives new messages for outgoing webhooks.
type Hooks interface {
	MessageCreated(conv store.Conversation, e protocol.Entry)
}

// Config wires the service.
type Config struct {
	Store     *store.Store
	Directory Directory
	Notifier  Notifier  // nil: no push notifications
	Hooks     Hooks     // nil: no webhooks
	Rooms     CallRooms // nil: calls are refused
	Phones    Phones    // nil: calls to telephones are refused
	// ContactPhones connects agents' calls in customer contacts with a
	// telephone (phone.go); nil: none.
	ContactPhones ContactPhones
	// ClickToCall gives the telephone a visitor's widget calls (see
	// clicktocall.go); nil: visitors cannot call telephones.
	ClickToCall func(ctx context.Context, visitor Identity) (string, error)
	// Presence off hides everyone's presence (an admin setting).
	PresenceOff bool
	// PushText lets push notifications carry message text. Off by default:
	// push services relay the payload (encrypted, but through a third party).
	PushText bool
	// RingTimeout is how long a call rings before it is missed.
	RingTimeout time.Duration
	// OfflineGrace is how long a person who lost their last connection still
	// shows as online, so a reconnect does not flicker.
	OfflineGrace time.Duration
	// PresenceInterval batches presence changes.
	PresenceInterval time.Duration
	// Retention deletes messages older than this; 0 keeps them forever.
	Retention time.Duration
	// SendQueue bounds each device's outgoing queue.
	SendQueue int
	// LiveCredentials, when set, is asked every 30 s for the credentials
	// (Identity.Session ids) still valid; devices opened with any other are
	// closed (see DisconnectUnless).
	LiveCredentials func(ctx context.Context, now time.Time) (map[string]bool, error)
	Logger          *slog.Logger
	Now             func() time.Time
}

// Service is the messaging service. It is safe for concurrent use.
type Service struct {
	cfg   Config
	st    *store.Store
	log   *slog.Logger
	hub   *hub
	pres  *presence
	calls *calls

	membersMu sync.Mutex
	members   map[string][]string // conversation -> member user ids, cached

	stop    chan struct{}
	wg      sync.WaitGroup
	devices sync.WaitGroup // connected devices' sockets, so Close can wait for them
}

// New starts the service; Close stops it.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RingTimeout == 0 {
		cfg.RingTimeout = 30 * time.Second
	}
	if cfg.OfflineGrace == 0 {
		cfg.OfflineGrace = 10 * time.Second
	}
	if cfg.PresenceInterval == 0 {
		cfg.PresenceInterval = time.Second
	}
	if cfg.SendQueue == 0 {
		cfg.SendQueue = 256
	}
	s := &Service{cfg: cfg, st: cfg.Store, log: cfg.Logger, members: map[string][]string{}, stop: make(chan struct{})}
	s.hub = newHub()
	s.pres = newPresence(s)
	s.calls = newCalls(s)
	s.wg.Go(s.pres.loop)
	s.every(30*time.Second, func(now time.Time) {
		s.hub.reapSilent(now)
		s.sweepCredentials(now)
	})
	s.every(time.Second, s.hub.cutStuckWrites)
	if cfg.Retention > 0 {
		s.wg.Go(func() { s.retention(cfg.Retention) })
	}
	return s
}

// every runs f every d until the service closes.
func (s *Service) every(d time.Duration, f func(now time.Time)) {
	s.wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case now := <-t.C:
				f(now)
			}
		}
	})
}

// sweepCredentials closes the devices whose credential ended without
// Disconnect being told.
func (s *Service) sweepCredentials(now time.Time) {
	if s.cfg.LiveCredentials == nil || s.hub.count.Load() == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	asOf := time.Now()
	live, err := s.cfg.LiveCredentials(ctx, now)
	if err != nil {
		s.log.Error("chat: checking the credentials of connected devices", "err", err)
		return
	}
	if n := s.DisconnectUnless(live, asOf); n > 0 {
		s.log.Info("chat: disconnected devices whose sign-in ended", "devices", n)
	}
}

// Close stops background work and disconnects every device.
func (s *Service) Close() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	s.calls.closeAll()
	s.hub.closeAll("server shutting down")
	s.wg.Wait()
	// Requests in progress finish before the store closes (the close frames
	// go out within seconds, or the sockets are cut).
	done := make(chan struct{})
	go func() { s.devices.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.log.Warn("chat: devices still connected at shutdown")
	}
}

// errorf builds the error a request fails with; the socket and the REST API
// both answer with its code and message.
func errorf(code, format string, a ...any) error { return protocol.Errorf(code, format, a...) }

// internal logs an unexpected error and returns a generic one to the client.
func (s *Service) internal(op string, err error) error {
	s.log.Error("chat: "+op, "err", err)
	return errorf(protocol.CodeInternal, "%s failed; try again", op)
}

// membership returns me's membership of conv, or not_found for anyone who is
// not a member: a conversation's existence is not revealed to outsiders.
func (s *Service) membership(ctx context.Context, me Identity, conv string) (store.Member, error) {
	m, err := s.st.Member(ctx, conv, me.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Member{}, errorf(protocol.CodeNotFound, "no conversation %s that you are a member of", conv)
	}
	if err != nil {
		return store.Member{}, s.internal("membership", err)
	}
	return m, nil
}

// CheckMember returns nil if me is a member of conv, else a not_found error.
func (s *Service) CheckMember(ctx context.Context, me Identity, conv string) error {
	_, err := s.membership(ctx, me, conv)
	return err
}

// CheckWritable is CheckMember for adding to conv (uploading a file): not
// while it is archived.
func (s *Service) CheckWritable(ctx context.Context, me Identity, conv string) error {
	_, err := s.writable(ctx, me, conv)
	return err
}

// memberIDs returns conv's member user ids, cached: every delivery needs them.
func (s *Service) memberIDs(ctx context.Context, conv string) ([]string, error) {
	s.membersMu.Lock()
	ids, ok := s.members[conv]
	s.membersMu.Unlock()
	if ok {
		return ids, nil
	}
	ms, err := s.st.Members(ctx, conv)
	if err != nil {
		return nil, err
	}
	ids = make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.UserID
	}
	s.membersMu.Lock()
	s.members[conv] = ids
	s.membersMu.Unlock()
	return ids, nil
}

// membersChanged drops cached membership after a join, leave or invite.
func (s *Service) membersChanged(conv string) {
	s.membersMu.Lock()
	delete(s.members, conv)
	s.membersMu.Unlock()
	s.pres.contactsChanged()
}

// userInfo describes a user to others.
func userInfo(u store.User) protocol.UserInfo {
	return protocol.UserInfo{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Role: u.Role}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// entry converts a stored log entry to its wire form.
func entry(m store.Message) protocol.Entry {
	e := protocol.Entry{Conversation: m.ConversationID, Seq: m.Seq, Kind: m.Kind, Sender: m.SenderID, Txn: m.TxnID,
		Text: m.Text, Target: m.TargetSeq, Thread: m.ThreadSeq, Reply: m.ReplySeq, At: stamp(m.CreatedAt),
		EditedAt: stamp(m.EditedAt), DeletedAt: stamp(m.DeletedAt), Replies: m.Replies}
	if len(m.Data) > 0 && string(m.Data) != "{}" {
		e.Data = m.Data
	}
	for _, r := range m.Reactions {
		e.Reactions = append(e.Reactions, protocol.ReactionInfo{User: r.UserID, Emoji: r.Emoji})
	}
	return e
}

func entries(ms []store.Message) []protocol.Entry {
	out := make([]protocol.Entry, len(ms))
	for i, m := range ms {
		out[i] = entry(m)
	}
	return out
}

// convInfo describes a conversation as member me sees it.
func (s *Service) convInfo(ctx context.Context, c store.Conversation, me *store.Member, unread int64) (protocol.ConversationInfo, error) {
	info := protocol.ConversationInfo{ID: c.ID, Kind: c.Kind, Name: c.Name, Topic: c.Topic, CreatedBy: c.CreatedBy,
		LastSeq: c.LastSeq, Archived: c.Archived, LastActivity: stamp(c.LastActivity), Unread: unread}
	if me == nil {
		return info, nil
	}
	info.Member, info.ReadSeq, info.Muted = true, me.ReadSeq, me.Muted
	ms, err := s.st.Members(ctx, c.ID)
	if err != nil {
		return info, err
	}
	info.Members = memberInfos(ms)
	return info, nil
}

// memberInfos describes a conversation's members with their receipts.
func memberInfos(ms []store.Member) []protocol.MemberInfo {
	var out []protocol.MemberInfo
	for _, m := range ms {
		out = append(out, protocol.MemberInfo{User: m.UserID, Role: m.Role, Read: m.ReadSeq, Delivered: m.DeliveredSeq})
	}
	return out
}

// describe loads conv and describes it to me (a member).
func (s *Service) describe(ctx context.Context, me Identity, conv string) (protocol.ConversationInfo, error) {
	c, err := s.st.Conversation(ctx, conv)
	if err != nil {
		return protocol.ConversationInfo{}, s.internal("conversation", err)
	}
	m, err := s.membership(ctx, me, conv)
	if err != nil {
		return protocol.ConversationInfo{}, err
	}
	info, err := s.convInfo(ctx, c, &m, 0)
	if err != nil {
		return info, s.internal("conversation", err)
	}
	return info, nil
}

// Inbox lists me's conversations, most recently active first.
func (s *Service) Inbox(ctx context.Context, me Identity) ([]protocol.ConversationInfo, error) {
	in, err := s.st.Inbox(ctx, me.UserID)
	if err != nil {
		return nil, s.internal("inbox", err)
	}
	out := make([]protocol.ConversationInfo, 0, len(in))
	for _, c := range in {
		info, err := s.convInfo(ctx, c.Conversation, &c.Me, c.Unread)
		if err != nil {
			return nil, s.internal("inbox", err)
		}
		out = append(out, info)
	}
	return out, nil
}

// ctxTimeout bounds background work that has no request context.
func ctxTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}
