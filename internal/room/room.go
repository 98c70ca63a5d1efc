// Package room keeps meetings: who is in them, what they publish, who may do what, the lobby, chat,
// and active speakers. It knows participants only through the small Participant interface, so a
// browser, a SIP call or a recorder are all the same to it, and it knows nothing of pion or sockets.
package room

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"switchboard/internal/protocol"
)

// Participant is a member of a room as the room sees it. Its methods are called with the room's lock
// held: they must not block and must not call back into the Room synchronously.
type Participant interface {
	ID() string
	// Send queues an event for the participant's client; it never blocks (a slow client loses events,
	// and catches up from the state it gets on resume).
	Send(m protocol.Message)
	// Subscribe asks the participant to start receiving t; Unsubscribe to stop.
	Subscribe(t *Track)
	Unsubscribe(t *Track)
	// Close ends the participant's session for reason (removed, room-closed, shutdown).
	Close(reason string)
}

// MediaTrack is the media side of a published track (an *sfu.Track for WebRTC publishers).
type MediaTrack interface {
	AudioLevel() float64
	Close()
}

// Track is a published track: what the room announces, plus its media.
type Track struct {
	info  protocol.TrackInfo // guarded by the room's lock after publication
	Media MediaTrack
}

// NewTrack pairs a track's description with its media.
func NewTrack(info protocol.TrackInfo, media MediaTrack) *Track {
	return &Track{info: info, Media: media}
}

// ID is the server's track id.
func (t *Track) ID() string { return t.info.ID }

// Publisher is the id of the participant who publishes the track.
func (t *Track) Publisher() string { return t.info.Participant }

// Kind is audio or video.
func (t *Track) Kind() string { return t.info.Kind }

// Settings are a room's options.
type Settings struct {
	P2P             bool          `json:"p2p"`
	Lobby           bool          `json:"lobby"`
	MaxParticipants int           `json:"maxParticipants,omitempty"`
	EmptyTimeout    time.Duration `json:"-"`
	// AudioCodec, when set (e.g. "audio/PCMU"), is the only audio codec browsers may publish:
	// a call with a telephone passes G.711 through instead of transcoding.
	AudioCodec string `json:"-"`
	// Call marks the room of a call between people (messaging): no meeting,
	// so no dial-in PIN.
	Call bool `json:"-"`
}

// Errors a join can end with; the signal layer maps them to protocol codes.
var (
	ErrNotFound = errors.New("no such meeting")
	ErrFull     = errors.New("the meeting is full")
	ErrLocked   = errors.New("the host has locked this meeting")
	ErrDenied   = errors.New("the host did not let you in")
	ErrClosed   = errors.New("the meeting has ended")
	ErrNotHost  = errors.New("only a host may do that")
	ErrNoMember = errors.New("no such participant")
	ErrNoTrack  = errors.New("no such track")
)

// ChatLog stores a room's chat; the room assigns nothing itself, so ordering is the log's.
type ChatLog interface {
	AppendChat(ctx context.Context, room string, m protocol.ChatMessage) (protocol.ChatMessage, error)
	ChatHistory(ctx context.Context, room string) ([]protocol.ChatMessage, error)
	FileInfo(ctx context.Context, room, id string) (protocol.FileInfo, error)
}

// Room is one meeting.
type Room struct {
	id       string
	pin      string // dial-in PIN, "" when none; set before the room is shared
	settings Settings
	reg      *Registry
	log      *slog.Logger

	chatMu sync.Mutex // orders append+broadcast so clients see chat in sequence order

	mu         sync.Mutex
	members    map[string]*member
	joinOrder  []string
	lobby      map[string]*pending
	tracks     map[string]*Track
	locked     bool
	lobbyOn    bool
	closed     bool
	emptyTimer *time.Timer
	speakers   []string
	quality    map[string]string
	done       chan struct{}
}

type member struct {
	p     Participant
	info  protocol.ParticipantInfo
	perms protocol.Permissions
	guest bool // never a host (JoinRequest.Guest)
}

type pending struct {
	info   protocol.ParticipantInfo
	p      Participant
	answer chan bool
}

// JoinRequest describes who wants in.
type JoinRequest struct {
	Participant Participant
	Name        string
	Perms       protocol.Permissions
	// Host: the participant created the room or holds a moderate grant; hosts skip the lobby.
	Host bool
	// Admitted: a host let this participant in from the lobby.
	Admitted bool
	// Guest: never becomes host, not even first in the room (a phone: it cannot admit or mute).
	Guest bool
}

// Snapshot is the room as a newly joined participant first sees it.
type Snapshot struct {
	Self         protocol.ParticipantInfo
	Room         protocol.RoomInfo
	Participants []protocol.ParticipantInfo
	Tracks       []protocol.TrackInfo
}

func newRoom(id string, s Settings, reg *Registry) *Room {
	r := &Room{
		id: id, settings: s, reg: reg, log: reg.log.With("room", id),
		members: map[string]*member{}, lobby: map[string]*pending{}, tracks: map[string]*Track{},
		lobbyOn: s.Lobby, done: make(chan struct{}),
	}
	reg.assignPINLocked(r) // newRoom is called with reg.mu held
	go r.speakerLoop()
	r.mu.Lock()
	r.armEmptyTimerLocked()
	r.mu.Unlock()
	return r
}

// ID is the room's id, the last part of its link.
func (r *Room) ID() string { return r.id }

// Settings returns the room's options.
func (r *Room) Settings() Settings { return r.settings }

// Join admits a participant, or puts it in the lobby: then wait receives true when a host admits it
// (call Join again with Admitted set) or false when denied or the room closes.
func (r *Room) Join(req JoinRequest) (snap *Snapshot, wait <-chan bool, err error) {
	p := req.Participant
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, nil, ErrClosed
	}
	if _, ok := r.members[p.ID()]; ok {
		return r.snapshotLocked(p.ID()), nil, nil
	}
	max := r.settings.MaxParticipants
	if r.settings.P2P {
		max = 2
	}
	if len(r.members) >= max {
		return nil, nil, ErrFull
	}
	info := protocol.ParticipantInfo{ID: p.ID(), Name: req.Name, Host: req.Host || !req.Guest && r.onlyGuestsLocked()}
	if !info.Host && !req.Admitted {
		if r.locked {
			return nil, nil, ErrLocked
		}
		if r.lobbyOn {
			ch := make(chan bool, 1)
			r.lobby[p.ID()] = &pending{info: info, p: p, answer: ch}
			r.broadcastHostsLocked(&protocol.Lobby{Participant: info})
			return nil, ch, nil
		}
	}
	if r.emptyTimer != nil {
		r.emptyTimer.Stop()
		r.emptyTimer = nil
	}
	m := &member{p: p, info: info, perms: req.Perms, guest: req.Guest}
	r.broadcastLocked(&protocol.ParticipantJoined{Participant: info}, "")
	r.members[p.ID()] = m
	r.joinOrder = append(r.joinOrder, p.ID())
	if m.perms.Subscribe {
		for _, t := range r.tracks {
			p.Subscribe(t)
		}
	}
	r.reg.metrics.participants(1)
	r.log.Info("participant joined", "participant", p.ID(), "host", info.Host, "count", len(r.members))
	return r.snapshotLocked(p.ID()), nil, nil
}

// hostlessLocked reports whether no member is a host: then whoever enters first leads. Rooms always
// start empty, so the creator becomes host.
func (r *Room) hostlessLocked() bool {
	for _, m := range r.members {
		if m.info.Host {
			return false
		}
	}
	return true
}

func (r *Room) snapshotLocked(self string) *Snapshot {
	s := &Snapshot{Room: r.infoLocked(), Participants: []protocol.ParticipantInfo{}, Tracks: []protocol.TrackInfo{}}
	for _, id := range r.joinOrder {
		m := r.members[id]
		if id == self {
			s.Self = m.info
			continue
		}
		s.Participants = append(s.Participants, m.info)
	}
	for _, t := range r.tracks {
		if t.info.Participant != self {
			s.Tracks = append(s.Tracks, t.info)
		}
	}
	slices.SortFunc(s.Tracks, func(a, b protocol.TrackInfo) int { return compareStrings(a.ID, b.ID) })
	return s
}

func (r *Room) infoLocked() protocol.RoomInfo {
	max := r.settings.MaxParticipants
	if r.settings.P2P {
		max = 2
	}
	info := protocol.RoomInfo{ID: r.id, P2P: r.settings.P2P, Locked: r.locked, Lobby: r.lobbyOn, MaxParticipants: max}
	if r.pin != "" {
		info.PIN, info.DialIn = r.pin, r.reg.cfg.DialIn
	}
	return info
}

// Leave removes a participant (or a lobby entry) and everything it published.
func (r *Room) Leave(pid, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w, ok := r.lobby[pid]; ok {
		delete(r.lobby, pid)
		w.answer <- false
		return
	}
	m, ok := r.members[pid]
	if !ok {
		return
	}
	for id, t := range r.tracks {
		if t.info.Participant == pid {
			r.removeTrackLocked(id)
		}
	}
	delete(r.members, pid)
	r.joinOrder = slices.DeleteFunc(r.joinOrder, func(id string) bool { return id == pid })
	r.reg.metrics.participants(-1)
	r.broadcastLocked(&protocol.ParticipantLeft{Participant: pid, Reason: reason}, "")
	r.log.Info("participant left", "participant", pid, "reason", reason, "count", len(r.members))
	if next := r.nextHostLocked(); m.info.Host && r.hostlessLocked() && next != nil {
		// Someone must be able to admit, mute and lock: the longest-present member takes over.
		next.info.Host = true
		next.perms.Moderate = true
		r.broadcastLocked(&protocol.ParticipantUpdated{Participant: next.info}, "")
	}
	if len(r.members) == 0 {
		r.armEmptyTimerLocked()
	}
}

func (r *Room) armEmptyTimerLocked() {
	if r.closed || r.emptyTimer != nil {
		return
	}
	r.emptyTimer = time.AfterFunc(r.settings.EmptyTimeout, func() {
		r.mu.Lock()
		empty := len(r.members) == 0 && len(r.lobby) == 0
		r.mu.Unlock()
		if empty {
			r.reg.close(r, "room-closed")
		}
	})
}

// Publish adds a track and offers it to everyone else who subscribes.
func (r *Room) Publish(t *Track) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.members[t.info.Participant]
	if !ok {
		return ErrNoMember
	}
	if !m.perms.Publish {
		return ErrNotHost
	}
	r.tracks[t.info.ID] = t
	r.reg.metrics.tracks(1)
	m.p.Send(&protocol.Published{Track: t.info})
	r.broadcastLocked(&protocol.TrackAdded{Track: t.info}, t.info.Participant)
	for id, o := range r.members {
		if id != t.info.Participant && o.perms.Subscribe {
			o.p.Subscribe(t)
		}
	}
	return nil
}

// Unpublish removes a participant's own track.
func (r *Room) Unpublish(pid, trackID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.tracks[trackID]
	if !ok || t.info.Participant != pid {
		return ErrNoTrack
	}
	r.removeTrackLocked(trackID)
	return nil
}

func (r *Room) removeTrackLocked(id string) {
	t := r.tracks[id]
	delete(r.tracks, id)
	r.reg.metrics.tracks(-1)
	for pid, m := range r.members {
		if pid != t.info.Participant {
			m.p.Unsubscribe(t)
		}
	}
	r.broadcastLocked(&protocol.TrackRemoved{Track: id}, "")
	if t.Media != nil {
		t.Media.Close()
	}
}

// SetMuted records that a participant muted or unmuted its own track.
func (r *Room) SetMuted(pid, trackID string, muted bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.tracks[trackID]
	if !ok || t.info.Participant != pid {
		return ErrNoTrack
	}
	if t.info.Muted != muted {
		t.info.Muted = muted
		r.broadcastLocked(&protocol.TrackUpdated{Track: t.info}, "")
	}
	return nil
}

// RaiseHand sets a participant's raised hand.
func (r *Room) RaiseHand(pid string, raised bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.members[pid]; ok && m.info.Hand != raised {
		m.info.Hand = raised
		r.broadcastLocked(&protocol.ParticipantUpdated{Participant: m.info}, "")
	}
}

// Host carries out a host's action.
func (r *Room) Host(pid, action, target string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.members[pid]
	if !ok || !h.info.Host {
		return ErrNotHost
	}
	switch action {
	case "mute":
		m, ok := r.members[target]
		if !ok {
			return ErrNoMember
		}
		for _, t := range r.tracks {
			if t.info.Participant == target && !t.info.Muted && t.info.Source != "screen" {
				t.info.Muted = true
				m.p.Send(&protocol.Muted{Track: t.info.ID, By: pid})
				r.broadcastLocked(&protocol.TrackUpdated{Track: t.info}, "")
			}
		}
	case "remove":
		m, ok := r.members[target]
		if !ok {
			return ErrNoMember
		}
		r.log.Info("host removed participant", "host", pid, "participant", target)
		m.p.Close("removed")
	case "lock", "unlock":
		r.locked = action == "lock"
		r.broadcastLocked(&protocol.RoomUpdated{Room: r.infoLocked()}, "")
	case "lobby-on", "lobby-off":
		r.lobbyOn = action == "lobby-on"
		r.broadcastLocked(&protocol.RoomUpdated{Room: r.infoLocked()}, "")
	case "admit", "deny":
		w, ok := r.lobby[target]
		if !ok {
			return ErrNoMember
		}
		delete(r.lobby, target)
		w.answer <- action == "admit"
	}
	return nil
}

// Chat appends a message to the room's log and delivers it to everyone, sender included.
func (r *Room) Chat(ctx context.Context, pid, text, fileID string) (protocol.ChatMessage, error) {
	r.mu.Lock()
	m, ok := r.members[pid]
	var name string
	if ok {
		name = m.info.Name
	}
	r.mu.Unlock()
	if !ok {
		return protocol.ChatMessage{}, ErrNoMember
	}
	msg := protocol.ChatMessage{From: pid, Name: name, Text: text}
	if fileID != "" {
		fi, err := r.reg.chat.FileInfo(ctx, r.id, fileID)
		if err != nil {
			return protocol.ChatMessage{}, err
		}
		msg.File = &fi
	}
	r.chatMu.Lock()
	defer r.chatMu.Unlock()
	msg, err := r.reg.chat.AppendChat(ctx, r.id, msg)
	if err != nil {
		return protocol.ChatMessage{}, err
	}
	r.mu.Lock()
	r.broadcastLocked(&protocol.Chat{Message: &msg}, "")
	r.mu.Unlock()
	return msg, nil
}

// ChatHistory is the room's chat so far, for a newly joined participant.
func (r *Room) ChatHistory(ctx context.Context) ([]protocol.ChatMessage, error) {
	r.chatMu.Lock()
	defer r.chatMu.Unlock()
	return r.reg.chat.ChatHistory(ctx, r.id)
}

// Relay passes opaque negotiation data between the two participants of a peer-to-peer room.
func (r *Room) Relay(from, to string, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.members[to]
	if !ok || from == to {
		return ErrNoMember
	}
	m.p.Send(&protocol.Relay{From: from, Data: data})
	return nil
}

// Members is the number of participants in the room.
func (r *Room) Members() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.members)
}

// Info describes the room now.
func (r *Room) Info() protocol.RoomInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.infoLocked()
}

// Broadcast sends an event to every member but except ("" for all).
func (r *Room) Broadcast(m protocol.Message, except string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.broadcastLocked(m, except)
}

func (r *Room) broadcastLocked(m protocol.Message, except string) {
	for id, o := range r.members {
		if id != except {
			o.p.Send(m)
		}
	}
}

func (r *Room) broadcastHostsLocked(m protocol.Message) {
	for _, o := range r.members {
		if o.info.Host {
			o.p.Send(m)
		}
	}
}

// closeWith ends every session in the room. Called by the registry.
func (r *Room) closeWith(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	close(r.done)
	if r.emptyTimer != nil {
		r.emptyTimer.Stop()
	}
	for id := range r.tracks {
		r.removeTrackLocked(id)
	}
	for _, w := range r.lobby {
		w.answer <- false
	}
	r.lobby = map[string]*pending{}
	for _, m := range r.members {
		m.p.Close(reason)
	}
	r.reg.metrics.participants(-len(r.members))
	r.members = map[string]*member{}
	r.joinOrder = nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Snapshot is the room's current state as participant pid sees it (for a resumed session).
func (r *Room) Snapshot(pid string) (*Snapshot, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.members[pid]; !ok {
		return nil, ErrNoMember
	}
	return r.snapshotLocked(pid), nil
}
