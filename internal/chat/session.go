package chat

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"switchboard/internal/protocol"
)

// ServeDevice runs a signed-in device's messaging socket until it closes.
// originPatterns are the other origins allowed to open it (the page's own
// origin always is): the cookie alone must not let another site's page in.
func (s *Service) ServeDevice(w http.ResponseWriter, r *http.Request, me Identity, originPatterns []string) {
	select {
	case <-s.stop:
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	default:
	}
	ws, err := upgrader(slices.Concat(originPatterns, me.Origins)).Upgrade(w, r, nil)
	if err != nil { // Upgrade has answered
		s.log.Debug("chat: websocket upgrade refused", "err", err, "origin", r.Header.Get("Origin"))
		return
	}
	s.devices.Add(1)
	ws.SetReadLimit(protocol.MaxFrame + 4096)
	// The socket outlives the request context; closing the device ends it.
	ctx := context.WithoutCancel(r.Context())

	d := newDevice(me, ws, s.cfg.SendQueue)
	// Registered before ready is built, so no entry falls between the two:
	// anything delivered meanwhile is held and follows ready (devices drop
	// duplicates by sequence number).
	s.hub.add(d)
	s.pres.connected(me.UserID)
	inbox, err := s.Inbox(ctx, me)
	if err != nil {
		d.close(websocket.CloseInternalServerErr, "could not load conversations")
		s.deviceGone(d)
		return
	}
	s.pres.remember(me.UserID, inbox)
	d.release(protocol.Encode(&protocol.Ready{Me: protocol.UserInfo{ID: me.UserID, Username: me.Username, DisplayName: me.DisplayName, Role: me.Role},
		Device: d.id, Conversations: inbox, Presence: s.pres.snapshot(me.UserID), PresenceOn: !s.cfg.PresenceOff}))
	// The reading goes on in a goroutine of its own, and this handler
	// returns: the HTTP server's request state and this goroutine's stack,
	// grown by the work above, are not kept for the life of the socket.
	go s.reader(ctx, ws, d)
}

// deviceGone cleans up after a device's socket closed.
func (s *Service) deviceGone(d *device) {
	d.close(websocket.CloseNormalClosure, "")
	s.hub.remove(d)
	s.pres.disconnected(d.me.UserID)
	s.calls.deviceGone(d)
	s.devices.Done()
}

// maxPending bounds requests read but not yet handled.
const maxPending = 64

// reader reads the device's requests until the socket closes. It only
// decodes and queues them; handleQueued carries them out, in order, on a
// goroutine that exists while there is work. So an idle device's one
// goroutine stays small: requests run database queries with deep stacks.
func (s *Service) reader(ctx context.Context, ws *websocket.Conn, d *device) {
	defer s.deviceGone(d)
	limit := rate.NewLimiter(20, 60)
	// A device refused more than 100 times within a minute is not a person
	// typing fast: it is closed.
	refused, refusedSince := 0, time.Now()
	for {
		typ, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		now := time.Now()
		d.lastHeard.Store(now.Unix())
		if !limit.Allow() {
			if now.Sub(refusedSince) > time.Minute {
				refused, refusedSince = 0, now
			}
			if refused++; refused > 100 {
				d.close(websocket.ClosePolicyViolation, "rate limit")
				return
			}
			// Answered by id, so that the client's request ends.
			d.send(protocol.Encode(protocol.WithID(protocol.Errorf(protocol.CodeRateLimited, "too many messages; slow down"), protocol.PeekID(data))))
			continue
		}
		if typ != websocket.TextMessage {
			d.send(protocol.Encode(protocol.Errorf(protocol.CodeBadRequest, "frames must be text (JSON)")))
			continue
		}
		msg, err := protocol.DecodeChat(data)
		if err != nil {
			d.send(protocol.Encode(err.(*protocol.Error)))
			continue
		}
		id := protocol.RequestID(msg)
		d.mu.Lock()
		if len(d.pending) >= maxPending {
			d.mu.Unlock()
			d.send(protocol.Encode(protocol.WithID(protocol.Errorf(protocol.CodeRateLimited, "too many requests waiting; slow down"), id)))
			continue
		}
		d.pending = append(d.pending, msg)
		start := !d.handling
		d.handling = true
		d.mu.Unlock()
		if start {
			go s.handleQueued(ctx, d)
		}
	}
}

// handleQueued carries out a device's queued requests in order, then exits.
func (s *Service) handleQueued(ctx context.Context, d *device) {
	for {
		d.mu.Lock()
		if len(d.pending) == 0 || d.closed {
			d.pending, d.handling = nil, false
			d.mu.Unlock()
			return
		}
		msg := d.pending[0]
		d.pending = d.pending[1:]
		d.mu.Unlock()

		id := protocol.RequestID(msg)
		reply, err := s.handle(ctx, d, msg)
		var pe *protocol.Error
		switch {
		case errors.As(err, &pe):
			d.send(protocol.Encode(protocol.WithID(pe, id)))
		case err != nil:
			d.send(protocol.Encode(protocol.WithID(protocol.Errorf(protocol.CodeInternal, "request failed"), id)))
		case reply != nil:
			d.send(protocol.Encode(protocol.WithID(reply, id)))
		case id != "":
			d.send(protocol.Encode(protocol.WithID(&protocol.OK{}, id)))
		}
	}
}

// handle carries out one request and returns its reply (nil: a plain ok).
func (s *Service) handle(ctx context.Context, d *device, msg protocol.Message) (protocol.Message, error) {
	me := d.me
	if me.Visitor() && !visitorMay(msg) {
		return nil, errVisitor()
	}
	switch m := msg.(type) {
	case *protocol.Ping:
		return &protocol.Pong{}, nil
	case *protocol.Sync:
		es, more, err := s.Sync(ctx, me, m.Conversation, m.After, m.Limit)
		return &protocol.Events{Conversation: m.Conversation, Entries: es, More: more}, err
	case *protocol.HistoryReq:
		es, err := s.History(ctx, me, m.Conversation, m.Before, m.Limit)
		return &protocol.HistoryMsg{Conversation: m.Conversation, Messages: es}, err
	case *protocol.ThreadReq:
		es, more, err := s.ThreadPage(ctx, me, m.Conversation, m.Root, m.After, m.Limit)
		return &protocol.HistoryMsg{Conversation: m.Conversation, Messages: es, More: more}, err
	case *protocol.Send:
		e, dup, err := s.Send(ctx, me, m)
		return &protocol.Sent{Entry: e, Duplicate: dup}, err
	case *protocol.Edit:
		return nil, s.Edit(ctx, me, m)
	case *protocol.Delete:
		return nil, s.Delete(ctx, me, m)
	case *protocol.React:
		return nil, s.React(ctx, me, m)
	case *protocol.Read:
		return nil, s.Read(ctx, me, m.Conversation, m.Seq)
	case *protocol.Delivered:
		return nil, s.Delivered(ctx, me, m.Conversation, m.Seq)
	case *protocol.Typing:
		return nil, s.Typing(ctx, me, m.Conversation)
	case *protocol.SetStatus:
		s.pres.set(me.UserID, m.Status, m.Text)
		return nil, nil
	case *protocol.Activity:
		if d.idle.Swap(m.Idle) != m.Idle {
			s.pres.touched(me.UserID)
		}
		return nil, nil
	case *protocol.Search:
		es, err := s.Search(ctx, me, m.Query, m.Conversation, m.Limit)
		return &protocol.Results{Messages: es}, err
	case *protocol.CreateConversation:
		c, err := s.Create(ctx, me, m)
		return &protocol.ConversationMsg{Conversation: c}, err
	case *protocol.Direct:
		c, err := s.Direct(ctx, me, m.User)
		return &protocol.ConversationMsg{Conversation: c}, err
	case *protocol.JoinChannel:
		c, err := s.Join(ctx, me, m.Conversation)
		return &protocol.ConversationMsg{Conversation: c}, err
	case *protocol.LeaveConversation:
		return nil, s.Leave(ctx, me, m.Conversation)
	case *protocol.Invite:
		c, err := s.Invite(ctx, me, m.Conversation, m.Users)
		return &protocol.ConversationMsg{Conversation: c}, err
	case *protocol.UpdateConversation:
		c, err := s.Update(ctx, me, m)
		return &protocol.ConversationMsg{Conversation: c}, err
	case *protocol.MuteConversation:
		return nil, s.Mute(ctx, me, m.Conversation, m.Muted)
	case *protocol.Channels:
		cs, err := s.Channels(ctx, me)
		return &protocol.ChannelList{Channels: cs}, err
	case *protocol.StartCall:
		if m.ClickToCall {
			info, err := s.calls.ClickToCall(ctx, d)
			return &protocol.Calling{Call: info}, err
		}
		if m.Phone != "" {
			info, err := s.calls.StartPhone(ctx, d, m)
			return &protocol.Calling{Call: info}, err
		}
		info, err := s.calls.Start(ctx, d, m)
		return &protocol.Calling{Call: info}, err
	case *protocol.CallAction:
		if m.Action == "hold" || m.Action == "resume" { // phonectl.go
			return nil, s.calls.Hold(ctx, d, m.Call, m.Action == "hold")
		}
		return nil, s.calls.Act(ctx, d, m.Action, m.Call)
	case *protocol.CallTransfer:
		return nil, s.calls.Transfer(ctx, d, m.Call, m.Target)
	case *protocol.CallAdd:
		return nil, s.calls.Add(ctx, d, m.Call, m.Users)
	}
	return nil, errorf(protocol.CodeUnknownType, "unhandled message %s", msg.TypeName())
}

// Connected is how many devices are connected now (a metric).
func (s *Service) Connected() int64 { return s.hub.count.Load() }
