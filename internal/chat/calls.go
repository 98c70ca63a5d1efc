package chat

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"time"

	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// CallRooms gives calls their media: a meeting room that the parties join
// with the meetings protocol. Two-party calls get a peer-to-peer room.
type CallRooms interface {
	CreateRoom(ctx context.Context, p2p bool) (string, error)
	// Participants is how many people are in the room; -1 once it is gone.
	Participants(room string) int
	// JoinToken is what me presents to join the room.
	JoinToken(room string, me Identity) (string, error)
}

// Call outcomes, as written into the conversation and sent in call.state.
const (
	reasonAnswered  = "answered_elsewhere"
	reasonDeclined  = "declined"
	reasonBusy      = "busy"
	reasonNoAnswer  = "no_answer"
	reasonCancelled = "cancelled"
	reasonHangup    = "hangup"
	reasonFailed    = "failed"
)

// call is one call between people. Its fields are guarded by calls.mu.
type call struct {
	id, conv  string
	caller    Identity
	video     bool
	group     bool
	invited   map[string]bool     // users being rung
	answered  map[string]bool     // users who answered (and have not left)
	in        map[string]Identity // who is in the call now (the caller, who answered), each counted in_call
	devices   map[string]bool     // devices in the call (the caller's, and each answering one)
	room      string
	p2p       bool
	started   time.Time
	connected time.Time // when the first callee answered
	ended     bool
	ring      *time.Timer
	watching  bool      // watch runs
	everFull  bool      // the room once had two or more people
	aloneAt   time.Time // when the room dropped below two

	// roomMu is held while the call's room is made or changed (answer,
	// escalation), so that they do not race. Taken before calls.mu.
	roomMu sync.Mutex

	// A call from a telephone (phone.go): told when answered and ended.
	onAnswer func()
	onEnd    func(reason string)
	// A call to a telephone (phone.go): the extension called. Its onEnd is
	// set (under calls.mu) once the gateway dials.
	phone string
	ctl   phoneCtl // hold and transfer of the telephone (phonectl.go)
	// A call from a number over a trunk (CallFromNumber): the caller's
	// display name; phone is the number.
	phoneName string
}

// calls runs the calls: ringing, answering, ending, and the call entries
// written into conversations.
type calls struct {
	s  *Service
	mu sync.Mutex
	m  map[string]*call
}

func newCalls(s *Service) *calls { return &calls{s: s, m: map[string]*call{}} }

// callEntry is the Data of a call entry in a conversation.
type callEntry struct {
	Call     string `json:"call"`
	Outcome  string `json:"outcome"` // answered, missed, declined, busy, cancelled, failed
	Duration int64  `json:"duration,omitempty"`
	Video    bool   `json:"video"`
	Group    bool   `json:"group"`
}

// Start calls a person, or the members of a conversation, from device d.
func (c *calls) Start(ctx context.Context, d *device, req *protocol.StartCall) (protocol.CallInfo, error) {
	s := c.s
	me := d.me
	if s.cfg.Rooms == nil {
		return protocol.CallInfo{}, errorf(protocol.CodeInvalidState, "calls are not available on this server")
	}
	if req.Conversation != "" && req.User == "" && !me.Visitor() && s.cfg.ContactPhones != nil {
		// A customer contact with a telephone: the call is with it (phone.go).
		if info, ok, err := c.contactPhone(ctx, d, req.Conversation); ok || err != nil {
			return info, err
		}
	}
	convID := req.Conversation
	if req.User != "" {
		info, err := s.Direct(ctx, me, req.User)
		if err != nil {
			return protocol.CallInfo{}, err
		}
		convID = info.ID
	}
	// A call writes a call entry: not in an archived conversation.
	if _, err := s.writable(ctx, me, convID); err != nil {
		return protocol.CallInfo{}, err
	}
	conv, err := s.st.Conversation(ctx, convID)
	if err != nil {
		return protocol.CallInfo{}, s.internal("call", err)
	}
	members, err := s.memberIDs(ctx, convID)
	if err != nil {
		return protocol.CallInfo{}, s.internal("call", err)
	}
	if me.Visitor() && len(members) != 2 {
		// A visitor calls the one person they talk with (a contact link, their
		// agent), never a whole team (a message left for a queue).
		return protocol.CallInfo{}, errorf(protocol.CodeForbidden, "a visitor may only call the one person in their conversation")
	}
	k := &call{id: newID(), conv: convID, caller: me, video: req.Video, group: conv.Kind != store.Direct,
		invited: map[string]bool{}, answered: map[string]bool{}, in: map[string]Identity{}, devices: map[string]bool{d.id: true},
		started: s.cfg.Now(), watching: conv.Kind != store.Direct}
	for _, u := range members {
		if u != me.UserID {
			k.invited[u] = true
		}
	}
	if len(k.invited) == 0 {
		return protocol.CallInfo{}, errorf(protocol.CodeInvalidState, "there is nobody else to call here")
	}
	// A group call's room opens at once: the caller waits in it.
	if k.group {
		if k.room, err = s.cfg.Rooms.CreateRoom(ctx, false); err != nil {
			return protocol.CallInfo{}, s.internal("call room", err)
		}
	}
	info := c.info(k)
	c.mu.Lock()
	// Someone already in a call is busy for a two-party call: nobody rings,
	// and the call ends at once.
	busy := !k.group && c.busyLocked(k.invited)
	if busy {
		clear(k.invited)
	} else {
		c.m[k.id] = k
		k.in[me.UserID] = me
		k.ring = time.AfterFunc(s.cfg.RingTimeout, func() { c.ringTimeout(k) })
	}
	c.mu.Unlock()
	if busy {
		c.end(k, reasonBusy)
		return info, nil
	}
	s.pres.inCall(me.UserID, 1)

	incoming := protocol.Encode(&protocol.CallIncoming{Call: info})
	for _, u := range info.Invited {
		s.hub.toUser(u, incoming)
		s.notifyCall(ctx, u, k, conv)
	}
	// The caller's other devices see the call too, so they can stop ringing
	// or show it in progress.
	s.hub.toDevices(me.UserID, protocol.Encode(&protocol.CallState{Call: k.id, State: "ringing", By: me.UserID}),
		func(x *device) bool { return x != d })
	if k.group {
		c.accept(k, d, me)
		c.s.wg.Go(func() { c.watch(k) })
	}
	return info, nil
}

func (c *calls) info(k *call) protocol.CallInfo {
	inv := make([]string, 0, len(k.invited))
	for u := range k.invited {
		inv = append(inv, u)
	}
	slices.Sort(inv)
	return protocol.CallInfo{ID: k.id, Conversation: k.conv, From: k.caller.UserID, Video: k.video, Group: k.group, Invited: inv,
		Phone: k.phone, PhoneName: k.phoneName}
}

// busyLocked reports whether one of users is in a call already (calling
// out, or answered). c.mu is held.
func (c *calls) busyLocked(users map[string]bool) bool {
	for _, k := range c.m {
		for u := range users {
			if _, ok := k.in[u]; ok {
				return true
			}
		}
	}
	return false
}

func (s *Service) notifyCall(ctx context.Context, user string, k *call, conv store.Conversation) {
	if s.cfg.Notifier == nil || s.hub.active(user) || s.pres.status(user) == protocol.StatusDND {
		return
	}
	title := k.caller.DisplayName
	if k.group && conv.Name != "" {
		title += " in " + conv.Name
	}
	body := "Incoming call"
	if k.video {
		body = "Incoming video call"
	}
	s.cfg.Notifier.Notify(ctx, user, Notification{Type: "call", Title: title, Body: body, URL: "/#/c/" + k.conv,
		Tag: "call-" + k.id, Conversation: k.conv, Urgent: true})
}

// Act handles call.answer, call.decline and call.hangup from device d.
func (c *calls) Act(ctx context.Context, d *device, action, id string) error {
	me := d.me
	c.mu.Lock()
	k := c.m[id]
	party := k != nil && (me.UserID == k.caller.UserID || k.invited[me.UserID] || k.answered[me.UserID])
	ringing := party && k.invited[me.UserID]
	c.mu.Unlock()
	if !party {
		return errorf(protocol.CodeNotFound, "no call %s for you", id)
	}
	switch action {
	case "answer":
		if !ringing {
			return errorf(protocol.CodeInvalidState, "you are not being called")
		}
		return c.answer(ctx, k, d)
	case "decline":
		if !ringing {
			return errorf(protocol.CodeInvalidState, "you are not being called")
		}
		c.decline(k, me)
		return nil
	default: // hangup
		c.hangup(k, d)
		return nil
	}
}

func (c *calls) answer(ctx context.Context, k *call, d *device) error {
	k.roomMu.Lock()
	defer k.roomMu.Unlock()
	c.mu.Lock()
	if k.ended || !k.invited[d.me.UserID] {
		c.mu.Unlock()
		return errorf(protocol.CodeInvalidState, "the call has ended")
	}
	delete(k.invited, d.me.UserID)
	k.answered[d.me.UserID] = true
	k.in[d.me.UserID] = d.me
	k.devices[d.id] = true
	if k.connected.IsZero() {
		k.connected = c.s.cfg.Now()
	}
	needRoom := k.room == ""
	watch := !k.watching
	k.watching = true
	if !k.group || len(k.invited) == 0 {
		k.ring.Stop()
	}
	c.mu.Unlock()
	c.s.pres.inCall(d.me.UserID, 1)

	if needRoom {
		room, err := c.s.cfg.Rooms.CreateRoom(ctx, true)
		if err != nil {
			c.end(k, reasonFailed)
			return c.s.internal("call room", err)
		}
		c.mu.Lock()
		k.room, k.p2p = room, true
		c.mu.Unlock()
		c.accept(k, nil, k.caller) // the caller's ringing device(s) join too
	}
	c.accept(k, d, d.me)
	if k.onAnswer != nil {
		k.onAnswer()
	}
	// The callee's other devices stop ringing.
	c.s.hub.toDevices(d.me.UserID, protocol.Encode(&protocol.CallState{Call: k.id, State: "ended", Reason: reasonAnswered}),
		func(x *device) bool { return x != d })
	if watch {
		c.s.wg.Go(func() { c.watch(k) })
	}
	return nil
}

// accept tells a party's device (all of their call devices when d is nil)
// which room to join, with their token.
func (c *calls) accept(k *call, d *device, who Identity) {
	c.mu.Lock()
	room := k.room
	c.mu.Unlock()
	token, err := c.s.cfg.Rooms.JoinToken(room, who)
	if err != nil {
		c.s.log.Error("chat: call token", "err", err)
		c.end(k, reasonFailed)
		return
	}
	c.mu.Lock()
	frame := protocol.Encode(&protocol.CallState{Call: k.id, State: "accepted", Room: k.room, P2P: k.p2p, Token: token, By: who.UserID})
	devs := maps.Clone(k.devices)
	c.mu.Unlock()
	c.s.hub.toDevices(who.UserID, frame, func(x *device) bool {
		if d != nil {
			return x == d
		}
		return devs[x.id]
	})
}

func (c *calls) decline(k *call, me Identity) {
	c.mu.Lock()
	delete(k.invited, me.UserID)
	left, answered, group := len(k.invited), len(k.answered), k.group
	c.mu.Unlock()
	// Every device of the person who declined stops ringing.
	c.s.hub.toUser(me.UserID, protocol.Encode(&protocol.CallState{Call: k.id, State: "ended", Reason: reasonDeclined, By: me.UserID}))
	if !group {
		c.end(k, reasonDeclined)
		return
	}
	if left == 0 && answered == 0 {
		c.end(k, reasonDeclined)
	}
}

func (c *calls) hangup(k *call, d *device) {
	c.mu.Lock()
	connected := !k.connected.IsZero()
	ringing := k.invited[d.me.UserID]
	isCaller := d.me.UserID == k.caller.UserID
	group := k.group
	c.mu.Unlock()
	switch {
	case ringing:
		c.decline(k, d.me)
	case !connected && isCaller:
		c.end(k, reasonCancelled)
	case !group:
		c.end(k, reasonHangup)
	default:
		c.leave(k, d.me.UserID)
	}
}

// leave takes user out of a group call, which goes on without them (the
// room watch ends it when the room empties) until nobody is left in it.
func (c *calls) leave(k *call, user string) {
	c.mu.Lock()
	_, was := k.in[user]
	delete(k.in, user)
	delete(k.answered, user)
	empty := len(k.in) == 0
	c.mu.Unlock()
	if was {
		c.s.pres.inCall(user, -1)
	}
	if empty {
		c.end(k, reasonHangup)
	}
}

func (c *calls) ringTimeout(k *call) {
	c.mu.Lock()
	connected := !k.connected.IsZero()
	still := make([]string, 0, len(k.invited))
	for u := range k.invited {
		still = append(still, u)
	}
	clear(k.invited)
	c.mu.Unlock()
	if !connected {
		c.end(k, reasonNoAnswer)
		return
	}
	// A group call goes on; those who did not answer stop ringing.
	frame := protocol.Encode(&protocol.CallState{Call: k.id, State: "ended", Reason: reasonNoAnswer})
	for _, u := range still {
		c.s.hub.toUser(u, frame)
	}
}

// watch ends an answered call when its room empties, or, for two people,
// when one has been alone for a while (the other closed the page).
func (c *calls) watch(k *call) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-c.s.stop:
			return
		case <-t.C:
		}
		c.mu.Lock()
		if k.ended {
			c.mu.Unlock()
			return
		}
		n := c.s.cfg.Rooms.Participants(k.room)
		now := c.s.cfg.Now()
		if n >= 2 {
			k.everFull, k.aloneAt = true, time.Time{}
		} else if k.aloneAt.IsZero() {
			k.aloneAt = now
		}
		done := n < 0 || (k.everFull && n == 0) ||
			(!k.group && !k.aloneAt.IsZero() && now.Sub(k.aloneAt) > 30*time.Second) ||
			(k.group && n == 0 && now.Sub(k.aloneAt) > time.Minute)
		c.mu.Unlock()
		if done {
			c.end(k, reasonHangup)
			return
		}
	}
}

// end finishes a call once: everyone involved hears why, and the call is
// written into the conversation.
func (c *calls) end(k *call, reason string) {
	c.mu.Lock()
	if k.ended {
		c.mu.Unlock()
		return
	}
	k.ended = true
	if k.ring != nil {
		k.ring.Stop()
	}
	delete(c.m, k.id)
	var duration int64
	if !k.connected.IsZero() {
		duration = int64(c.s.cfg.Now().Sub(k.connected).Seconds())
	}
	parties := []string{k.caller.UserID}
	for u := range k.invited {
		parties = append(parties, u)
	}
	for u := range k.answered {
		parties = append(parties, u)
	}
	inCall := slices.Collect(maps.Keys(k.in))
	clear(k.in)
	entry := callEntry{Call: k.id, Video: k.video, Group: k.group, Duration: duration}
	wasConnected := !k.connected.IsZero()
	onEnd := k.onEnd
	c.mu.Unlock()
	for _, u := range inCall {
		c.s.pres.inCall(u, -1)
	}
	frame := protocol.Encode(&protocol.CallState{Call: k.id, State: "ended", Reason: reason, Duration: duration})
	for _, u := range parties {
		c.s.hub.toUser(u, frame)
	}
	entry.Outcome = map[string]string{reasonDeclined: "declined", reasonNoAnswer: "missed", reasonCancelled: "cancelled",
		reasonBusy: "busy", reasonHangup: "answered", reasonFailed: "failed"}[reason]
	if wasConnected {
		entry.Outcome = "answered"
	}
	if k.conv != "" { // a call to a phone that belongs to nobody has no conversation
		c.s.writeEntry(k.conv, k.caller.UserID, entry)
	}
	if onEnd != nil {
		onEnd(reason)
	}
}

// writeEntry records a call in its conversation.
func (s *Service) writeEntry(conv, caller string, c callEntry) {
	ctx, cancel := ctxTimeout()
	defer cancel()
	data, _ := json.Marshal(c)
	m, _, err := s.st.AppendMessage(ctx, store.Message{ConversationID: conv, Kind: store.KindCall, SenderID: caller,
		TxnID: "call-" + c.Call, Data: data})
	if err != nil {
		s.log.Error("chat: call entry", "err", err)
		return
	}
	s.deliver(ctx, entry(m))
}

// Add rings more people into a call: escalation. A two-party call moves to a
// meeting room, since peer-to-peer holds two people only (one that still
// rings becomes a group call whose caller waits in the room). A group's or
// channel's call rings its members only; a two-party call anyone.
func (c *calls) Add(ctx context.Context, d *device, id string, users []string) error {
	c.mu.Lock()
	k := c.m[id]
	ok := false
	if k != nil {
		_, ok = k.in[d.me.UserID]
	}
	c.mu.Unlock()
	if !ok {
		return errorf(protocol.CodeNotFound, "no call %s that you are in", id)
	}
	if k.onEnd != nil || k.phone != "" {
		// The phone is in the call's room and cannot move to another.
		return errorf(protocol.CodeInvalidState, "a call with a telephone cannot take more people yet")
	}
	if err := c.s.existingUsers(ctx, users); err != nil {
		return err
	}
	conv, err := c.s.st.Conversation(ctx, k.conv)
	if err != nil {
		return c.s.internal("call", err)
	}
	if conv.Kind != store.Direct {
		members, err := c.s.memberIDs(ctx, k.conv)
		if err != nil {
			return c.s.internal("call", err)
		}
		for _, u := range users {
			if !slices.Contains(members, u) {
				return errorf(protocol.CodeForbidden, "%s is not a member of the conversation: invite them first", u)
			}
		}
	}
	k.roomMu.Lock()
	defer k.roomMu.Unlock()
	c.mu.Lock()
	// Those in the call or ringing already are not rung again.
	var ring []string
	for _, u := range users {
		if _, in := k.in[u]; !in && u != k.caller.UserID && !k.invited[u] && !slices.Contains(ring, u) {
			ring = append(ring, u)
		}
	}
	ended, move := k.ended, !k.group && len(ring) > 0
	c.mu.Unlock()
	if ended {
		return errorf(protocol.CodeInvalidState, "the call has ended")
	}
	if move {
		room, err := c.s.cfg.Rooms.CreateRoom(ctx, false)
		if err != nil {
			return c.s.internal("call room", err)
		}
		c.mu.Lock()
		k.room, k.p2p, k.group = room, false, true
		k.everFull, k.aloneAt = false, time.Time{}
		parties := slices.Collect(maps.Values(k.in))
		watch := !k.watching
		k.watching = true
		c.mu.Unlock()
		for _, who := range parties {
			c.accept(k, nil, who)
		}
		if watch {
			c.s.wg.Go(func() { c.watch(k) })
		}
	}
	c.mu.Lock()
	if k.ended {
		c.mu.Unlock()
		return errorf(protocol.CodeInvalidState, "the call has ended")
	}
	for _, u := range ring {
		k.invited[u] = true
	}
	if len(ring) > 0 {
		k.ring.Reset(c.s.cfg.RingTimeout)
	}
	info := c.info(k)
	c.mu.Unlock()
	incoming := protocol.Encode(&protocol.CallIncoming{Call: info})
	for _, u := range ring {
		c.s.hub.toUser(u, incoming)
		c.s.notifyCall(ctx, u, k, conv)
	}
	return nil
}

// deviceGone handles a device that disconnected: a caller who vanishes
// while ringing cancels the call. Answered calls carry on (the room
// watch ends them), so a reload does not drop a call.
func (c *calls) deviceGone(d *device) {
	c.mu.Lock()
	var cancel []*call
	for _, k := range c.m {
		if k.devices[d.id] && k.connected.IsZero() && k.caller.UserID == d.me.UserID {
			cancel = append(cancel, k)
		}
	}
	c.mu.Unlock()
	for _, k := range cancel {
		c.end(k, reasonCancelled)
	}
}

func (c *calls) closeAll() {
	c.mu.Lock()
	all := make([]*call, 0, len(c.m))
	for _, k := range c.m {
		all = append(all, k)
	}
	c.mu.Unlock()
	for _, k := range all {
		c.end(k, reasonFailed)
	}
}
