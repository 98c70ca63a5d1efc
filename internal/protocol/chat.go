package protocol

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The messaging protocol (docs/protocol.md, "Messaging"): a signed-in device's
// one WebSocket for conversations, presence, typing, receipts and ringing.
// Requests carry an id and get a reply; the rest are events.

// chatRequests are the messages a signed-in device may send, by type.
var chatRequests = map[string]func() Message{
	"sync":        func() Message { return &Sync{} },
	"history":     func() Message { return &HistoryReq{} },
	"thread":      func() Message { return &ThreadReq{} },
	"send":        func() Message { return &Send{} },
	"edit":        func() Message { return &Edit{} },
	"delete":      func() Message { return &Delete{} },
	"react":       func() Message { return &React{} },
	"read":        func() Message { return &Read{} },
	"delivered":   func() Message { return &Delivered{} },
	"typing":      func() Message { return &Typing{} },
	"status":      func() Message { return &SetStatus{} },
	"activity":    func() Message { return &Activity{} },
	"search":      func() Message { return &Search{} },
	"create":      func() Message { return &CreateConversation{} },
	"direct":      func() Message { return &Direct{} },
	"join":        func() Message { return &JoinChannel{} },
	"leave":       func() Message { return &LeaveConversation{} },
	"invite":      func() Message { return &Invite{} },
	"update":      func() Message { return &UpdateConversation{} },
	"mute":        func() Message { return &MuteConversation{} },
	"channels":    func() Message { return &Channels{} },
	"call":        func() Message { return &StartCall{} },
	"call.answer": func() Message { return &CallAction{Action: "answer"} },
	"call.decline": func() Message {
		return &CallAction{Action: "decline"}
	},
	"call.hangup": func() Message { return &CallAction{Action: "hangup"} },
	"call.add":    func() Message { return &CallAdd{} },
	// Calls with a telephone (docs/protocol.md, "Calls with telephones").
	"call.hold":     func() Message { return &CallAction{Action: "hold"} },
	"call.resume":   func() Message { return &CallAction{Action: "resume"} },
	"call.transfer": func() Message { return &CallTransfer{} },
	"ping":          func() Message { return &Ping{} },
}

// DecodeChat parses one frame of the messaging protocol, like Decode.
func DecodeChat(data []byte) (Message, error) { return decode(data, chatRequests) }

// Limits of the messaging protocol.
const (
	MaxMessageLen = 8000 // characters of a message's text
	MaxTopicLen   = 250
	MaxConvName   = 80
	MaxStatusText = 100
	MaxQueryLen   = 200
	MaxAttach     = 10
	MaxInvite     = 100
)

// ConversationIDPattern is what a conversation id may look like.
var ConversationIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Presence statuses. A person sets available, away, busy or dnd; the server
// derives in_call and offline, and away when all their devices are idle.
const (
	StatusAvailable = "available"
	StatusAway      = "away"
	StatusBusy      = "busy"
	StatusDND       = "dnd"
	StatusInCall    = "in_call"
	StatusOffline   = "offline"
)

// ---- shared shapes ----

// UserInfo is a person as others see them.
type UserInfo struct {
	ID          string `json:"id"`
	Username    string `json:"username"`
	DisplayName string `json:"displayName"`
	Role        string `json:"role"`
}

// MemberInfo is a member of a conversation with their receipts.
type MemberInfo struct {
	User      string `json:"user"`
	Role      string `json:"role"`
	Read      int64  `json:"read"`
	Delivered int64  `json:"delivered"`
}

// ConversationInfo is a conversation as one member sees it.
type ConversationInfo struct {
	ID           string       `json:"id"`
	Kind         string       `json:"kind"` // direct | group | channel
	Name         string       `json:"name"`
	Topic        string       `json:"topic"`
	CreatedBy    string       `json:"createdBy"`
	Members      []MemberInfo `json:"members,omitempty"`
	LastSeq      int64        `json:"lastSeq"`
	ReadSeq      int64        `json:"readSeq"`
	Unread       int64        `json:"unread"`
	Muted        bool         `json:"muted"`
	Archived     bool         `json:"archived"`
	Member       bool         `json:"member"`
	LastActivity string       `json:"lastActivity"`
}

// Entry is one entry of a conversation's log (docs/protocol.md lists the kinds).
type Entry struct {
	Conversation string          `json:"conversation"`
	Seq          int64           `json:"seq"`
	Kind         string          `json:"kind"`
	Sender       string          `json:"sender"`
	Txn          string          `json:"txn,omitempty"`
	Text         string          `json:"text,omitempty"`
	Target       int64           `json:"target,omitempty"`
	Thread       int64           `json:"thread,omitempty"`
	Reply        int64           `json:"reply,omitempty"`
	Data         json.RawMessage `json:"data,omitempty"`
	At           string          `json:"at"`
	EditedAt     string          `json:"editedAt,omitempty"`
	DeletedAt    string          `json:"deletedAt,omitempty"`
	Reactions    []ReactionInfo  `json:"reactions,omitempty"`
	Replies      int             `json:"replies,omitempty"`
}

// ReactionInfo is one person's emoji on a message.
type ReactionInfo struct {
	User  string `json:"user"`
	Emoji string `json:"emoji"`
}

// PresenceInfo is a person's presence.
type PresenceInfo struct {
	Status string `json:"status"`
	Text   string `json:"text,omitempty"`
}

// ---- device to server ----

type Sync struct {
	Head
	Conversation string `json:"conversation"`
	After        int64  `json:"after"`
	Limit        int    `json:"limit,omitempty"`
}

type HistoryReq struct {
	Head
	Conversation string `json:"conversation"`
	Before       int64  `json:"before,omitempty"`
	Limit        int    `json:"limit,omitempty"`
}

// ThreadReq asks for a thread's root and its replies after After, at most
// Limit of them.
type ThreadReq struct {
	Head
	Conversation string `json:"conversation"`
	Root         int64  `json:"root"`
	After        int64  `json:"after,omitempty"`
	Limit        int    `json:"limit,omitempty"`
}

type Send struct {
	Head
	Conversation string   `json:"conversation"`
	Txn          string   `json:"txn"`
	Text         string   `json:"text,omitempty"`
	Thread       int64    `json:"thread,omitempty"`
	Reply        int64    `json:"reply,omitempty"`
	Files        []string `json:"files,omitempty"`
}

type Edit struct {
	Head
	Conversation string `json:"conversation"`
	Seq          int64  `json:"seq"`
	Text         string `json:"text"`
}

type Delete struct {
	Head
	Conversation string `json:"conversation"`
	Seq          int64  `json:"seq"`
}

type React struct {
	Head
	Conversation string `json:"conversation"`
	Seq          int64  `json:"seq"`
	Emoji        string `json:"emoji"`
	Add          bool   `json:"add"`
}

// Read moves the device's person's read cursor: Seq is the newest entry read.
type Read struct {
	Head
	Conversation string `json:"conversation"`
	Seq          int64  `json:"seq"`
}

type Delivered struct {
	Head
	Conversation string `json:"conversation"`
	Seq          int64  `json:"seq"`
}

// Typing says someone is typing; the server adds who.
type Typing struct {
	Head
	Conversation string `json:"conversation"`
	User         string `json:"user,omitempty"`
}

type SetStatus struct {
	Head
	Status string `json:"status"`
	Text   string `json:"text"`
}

type Activity struct {
	Head
	Idle bool `json:"idle"`
}

type Search struct {
	Head
	Query        string `json:"query"`
	Conversation string `json:"conversation,omitempty"`
	Limit        int    `json:"limit,omitempty"`
}

type CreateConversation struct {
	Head
	Kind    string   `json:"kind"` // group | channel
	Name    string   `json:"name"`
	Topic   string   `json:"topic,omitempty"`
	Members []string `json:"members,omitempty"`
}

type Direct struct {
	Head
	User string `json:"user"`
}

type JoinChannel struct {
	Head
	Conversation string `json:"conversation"`
}

type LeaveConversation struct {
	Head
	Conversation string `json:"conversation"`
}

type Invite struct {
	Head
	Conversation string   `json:"conversation"`
	Users        []string `json:"users"`
}

type UpdateConversation struct {
	Head
	Conversation string  `json:"conversation"`
	Name         *string `json:"name,omitempty"`
	Topic        *string `json:"topic,omitempty"`
	Archived     *bool   `json:"archived,omitempty"`
}

type MuteConversation struct {
	Head
	Conversation string `json:"conversation"`
	Muted        bool   `json:"muted"`
}

type Channels struct{ Head }

// StartCall calls a person (user), a conversation's members, or a
// registered telephone (phone: an extension, or the username of a user whose
// desk phone is registered).
type StartCall struct {
	Head
	User         string `json:"user,omitempty"`
	Conversation string `json:"conversation,omitempty"`
	Phone        string `json:"phone,omitempty"`
	Video        bool   `json:"video"`
	// ClickToCall: a website visitor calls the telephone their widget is
	// set up to call (the server knows which; the visitor never names it).
	ClickToCall bool `json:"clickToCall,omitempty"`
}

// CallAction is call.answer, call.decline or call.hangup, and for calls
// with a telephone call.hold and call.resume.
type CallAction struct {
	Head
	Call   string `json:"call"`
	Action string `json:"-"`
}

type CallAdd struct {
	Head
	Call  string   `json:"call"`
	Users []string `json:"users"`
}

// CallTransfer hands the telephone in a call over to target (blind
// transfer): a phone number, an extension, a username or a sip: URI.
type CallTransfer struct {
	Head
	Call   string `json:"call"`
	Target string `json:"target"`
}

// ---- server to device ----

// Ready is the first message on a messaging connection.
type Ready struct {
	Head
	Me            UserInfo                `json:"me"`
	Device        string                  `json:"device"`
	Conversations []ConversationInfo      `json:"conversations"`
	Presence      map[string]PresenceInfo `json:"presence"`
	PresenceOn    bool                    `json:"presenceEnabled"`
}

// EventMsg delivers a new entry of a conversation's log.
type EventMsg struct {
	Head
	Entry Entry `json:"entry"`
}

// Events answers sync: the entries after the cursor, in order; More says a
// further sync is needed.
type Events struct {
	Head
	Conversation string  `json:"conversation"`
	Entries      []Entry `json:"entries"`
	More         bool    `json:"more"`
}

// HistoryMsg answers history and thread: messages, oldest first. For a
// thread, More says there are more replies: ask again after the last one.
type HistoryMsg struct {
	Head
	Conversation string  `json:"conversation"`
	Messages     []Entry `json:"messages"`
	More         bool    `json:"more,omitempty"`
}

// Sent acknowledges a send: the message is stored under Seq.
type Sent struct {
	Head
	Entry     Entry `json:"entry"`
	Duplicate bool  `json:"duplicate"`
}

type Results struct {
	Head
	Messages []Entry `json:"messages"`
}

// ConversationMsg tells a member about a conversation: created, joined,
// changed, or the answer to a request about one.
type ConversationMsg struct {
	Head
	Conversation ConversationInfo `json:"conversation"`
}

// Receipt tells the members that a member's cursors moved.
type Receipt struct {
	Head
	Conversation string `json:"conversation"`
	User         string `json:"user"`
	Read         int64  `json:"read"`
	Delivered    int64  `json:"delivered"`
}

// Removed tells a device its user is no longer in a conversation.
type Removed struct {
	Head
	Conversation string `json:"conversation"`
}

type ChannelList struct {
	Head
	Channels []ConversationInfo `json:"channels"`
}

// PresenceMsg carries presence changes, batched.
type PresenceMsg struct {
	Head
	Users map[string]PresenceInfo `json:"users"`
}

// CallInfo describes a call to its parties.
type CallInfo struct {
	ID           string   `json:"id"`
	Conversation string   `json:"conversation"`
	From         string   `json:"from"`
	Video        bool     `json:"video"`
	Group        bool     `json:"group"`
	Invited      []string `json:"invited"`
	// Phone is the extension called, for a call to a telephone.
	Phone string `json:"phone,omitempty"`
	// PhoneName is the telephone's display name, when it has one: for a
	// call from a number over a trunk, From is "" and Phone the number.
	PhoneName string `json:"phoneName,omitempty"`
}

// CallIncoming rings a callee's devices.
type CallIncoming struct {
	Head
	Call CallInfo `json:"call"`
}

// Calling answers a call request: the call rings.
type Calling struct {
	Head
	Call CallInfo `json:"call"`
}

// CallState tells a call's parties what happened: ringing, accepted (with the
// room to join), or ended with a reason. Calls with a telephone also have
// early (a room to hear ringback in before the answer), held and active
// (hold and resume, By a user id or "phone") and transferring.
type CallState struct {
	Head
	Call     string `json:"call"`
	State    string `json:"state"`            // ringing | early | accepted | held | active | transferring | ended
	Reason   string `json:"reason,omitempty"` // ended: answered_elsewhere | declined | busy | no_answer | cancelled | hangup | failed | transferred; active/held: transfer_failed; active: phone_transferred
	Room     string `json:"room,omitempty"`
	P2P      bool   `json:"p2p,omitempty"`
	Token    string `json:"token,omitempty"`
	By       string `json:"by,omitempty"`
	Duration int64  `json:"duration,omitempty"` // seconds, when an answered call ends
	// Phone and PhoneName name the telephone the call is now with, after
	// the one in it transferred the call there (state active, reason
	// phone_transferred).
	Phone     string `json:"phone,omitempty"`
	PhoneName string `json:"phoneName,omitempty"`
}

// CallDTMF is a key pressed on the telephone in a call (RFC 4733 event
// received from it), told to the call's parties.
type CallDTMF struct {
	Head
	Call  string `json:"call"`
	Digit string `json:"digit"` // 0-9 * # A-D
}

func (*CallDTMF) TypeName() string { return "call.dtmf" }

func (*Sync) TypeName() string               { return "sync" }
func (*HistoryReq) TypeName() string         { return "history" }
func (*ThreadReq) TypeName() string          { return "thread" }
func (*Send) TypeName() string               { return "send" }
func (*Edit) TypeName() string               { return "edit" }
func (*Delete) TypeName() string             { return "delete" }
func (*React) TypeName() string              { return "react" }
func (*Read) TypeName() string               { return "read" }
func (*Receipt) TypeName() string            { return "receipt" }
func (*Delivered) TypeName() string          { return "delivered" }
func (*Typing) TypeName() string             { return "typing" }
func (*SetStatus) TypeName() string          { return "status" }
func (*Activity) TypeName() string           { return "activity" }
func (*Search) TypeName() string             { return "search" }
func (*CreateConversation) TypeName() string { return "create" }
func (*Direct) TypeName() string             { return "direct" }
func (*JoinChannel) TypeName() string        { return "join" }
func (*LeaveConversation) TypeName() string  { return "leave" }
func (*Invite) TypeName() string             { return "invite" }
func (*UpdateConversation) TypeName() string { return "update" }
func (*MuteConversation) TypeName() string   { return "mute" }
func (*Channels) TypeName() string           { return "channels" }
func (*StartCall) TypeName() string          { return "call" }
func (m *CallAction) TypeName() string       { return "call." + m.Action }
func (*CallAdd) TypeName() string            { return "call.add" }
func (*CallTransfer) TypeName() string       { return "call.transfer" }
func (*Ready) TypeName() string              { return "ready" }
func (*EventMsg) TypeName() string           { return "event" }
func (*Events) TypeName() string             { return "events" }
func (*HistoryMsg) TypeName() string         { return "history" }
func (*Sent) TypeName() string               { return "sent" }
func (*Results) TypeName() string            { return "results" }
func (*ConversationMsg) TypeName() string    { return "conversation" }
func (*Removed) TypeName() string            { return "removed" }
func (*ChannelList) TypeName() string        { return "channels" }
func (*PresenceMsg) TypeName() string        { return "presence" }
func (*CallIncoming) TypeName() string       { return "call.incoming" }
func (*CallState) TypeName() string          { return "call.state" }
func (*Calling) TypeName() string            { return "calling" }

// ---- validation ----

func checkConv(id string) error {
	if !ConversationIDPattern.MatchString(id) {
		return fmt.Errorf("conversation must be a conversation id")
	}
	return nil
}

func checkSeq(seq int64) error {
	if seq < 1 {
		return fmt.Errorf("seq must be a positive sequence number")
	}
	return nil
}

func checkUserID(id string) error {
	if id == "" || len(id) > maxIDLen || strings.ContainsFunc(id, unicode.IsSpace) {
		return fmt.Errorf("user must be a user id")
	}
	return nil
}

// checkText checks a message text: valid UTF-8, not too long, and no
// control characters other than newlines and tabs.
func checkText(field, s string, max int, allowEmpty bool) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s must be valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return Errorf(CodeTooLarge, "%s has %d characters; the limit is %d", field, n, max)
	}
	if !allowEmpty && strings.TrimSpace(s) == "" {
		return fmt.Errorf("%s must not be empty", field)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f }) {
		return fmt.Errorf("%s must not contain control characters", field)
	}
	return nil
}

// checkName checks a conversation's name: the same for create and update.
func checkName(name string) error {
	if strings.ContainsAny(name, "\r\n") {
		return fmt.Errorf("name must be one line")
	}
	return checkText("name", name, MaxConvName, false)
}

func checkUsers(users []string, max int) error {
	if len(users) > max {
		return fmt.Errorf("at most %d users", max)
	}
	for _, u := range users {
		if err := checkUserID(u); err != nil {
			return err
		}
	}
	return nil
}

func (m *Sync) validate() error {
	if m.After < 0 || m.Limit < 0 {
		return fmt.Errorf("after and limit must not be negative")
	}
	return checkConv(m.Conversation)
}

func (m *HistoryReq) validate() error {
	if m.Before < 0 || m.Limit < 0 {
		return fmt.Errorf("before and limit must not be negative")
	}
	return checkConv(m.Conversation)
}

func (m *ThreadReq) validate() error {
	if m.After < 0 || m.Limit < 0 {
		return fmt.Errorf("after and limit must not be negative")
	}
	if err := checkConv(m.Conversation); err != nil {
		return err
	}
	return checkSeq(m.Root)
}

func (m *Send) validate() error {
	if err := checkConv(m.Conversation); err != nil {
		return err
	}
	if m.Txn == "" || len(m.Txn) > maxIDLen {
		return fmt.Errorf("txn must be a client transaction id of 1-%d characters", maxIDLen)
	}
	if m.Thread < 0 || m.Reply < 0 {
		return fmt.Errorf("thread and reply must be sequence numbers")
	}
	if len(m.Files) > MaxAttach {
		return fmt.Errorf("at most %d files per message", MaxAttach)
	}
	for _, f := range m.Files {
		if f == "" || len(f) > maxIDLen {
			return fmt.Errorf("files must be file ids")
		}
	}
	return checkText("text", m.Text, MaxMessageLen, len(m.Files) > 0)
}

func (m *Edit) validate() error {
	if err := checkConv(m.Conversation); err != nil {
		return err
	}
	if err := checkSeq(m.Seq); err != nil {
		return err
	}
	return checkText("text", m.Text, MaxMessageLen, false)
}

func (m *Delete) validate() error {
	if err := checkConv(m.Conversation); err != nil {
		return err
	}
	return checkSeq(m.Seq)
}

func (m *React) validate() error {
	if err := checkConv(m.Conversation); err != nil {
		return err
	}
	if err := checkSeq(m.Seq); err != nil {
		return err
	}
	if m.Emoji == "" || len(m.Emoji) > 32 || !utf8.ValidString(m.Emoji) ||
		strings.ContainsFunc(m.Emoji, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return fmt.Errorf("emoji must be one emoji (at most 32 bytes, no spaces)")
	}
	return nil
}

func (m *Read) validate() error {
	if err := checkConv(m.Conversation); err != nil {
		return err
	}
	return checkSeq(m.Seq)
}

func (m *Delivered) validate() error {
	if err := checkConv(m.Conversation); err != nil {
		return err
	}
	return checkSeq(m.Seq)
}

func (m *Typing) validate() error {
	if m.User != "" {
		return fmt.Errorf("user is set by the server")
	}
	return checkConv(m.Conversation)
}

var settableStatus = map[string]bool{StatusAvailable: true, StatusAway: true, StatusBusy: true, StatusDND: true}

func (m *SetStatus) validate() error {
	if !settableStatus[m.Status] {
		return fmt.Errorf("status must be available, away, busy or dnd")
	}
	return checkText("text", m.Text, MaxStatusText, true)
}

func (m *Search) validate() error {
	if m.Conversation != "" {
		if err := checkConv(m.Conversation); err != nil {
			return err
		}
	}
	if m.Limit < 0 {
		return fmt.Errorf("limit must not be negative")
	}
	return checkText("query", m.Query, MaxQueryLen, false)
}

func (m *CreateConversation) validate() error {
	if m.Kind != "group" && m.Kind != "channel" {
		return fmt.Errorf("kind must be group or channel (use direct for one person)")
	}
	if err := checkName(m.Name); err != nil {
		return err
	}
	if err := checkText("topic", m.Topic, MaxTopicLen, true); err != nil {
		return err
	}
	return checkUsers(m.Members, MaxInvite)
}

func (m *Direct) validate() error { return checkUserID(m.User) }

func (m *JoinChannel) validate() error       { return checkConv(m.Conversation) }
func (m *LeaveConversation) validate() error { return checkConv(m.Conversation) }
func (m *MuteConversation) validate() error  { return checkConv(m.Conversation) }

func (m *Invite) validate() error {
	if err := checkConv(m.Conversation); err != nil {
		return err
	}
	if len(m.Users) == 0 {
		return fmt.Errorf("users must name at least one user")
	}
	return checkUsers(m.Users, MaxInvite)
}

func (m *UpdateConversation) validate() error {
	if err := checkConv(m.Conversation); err != nil {
		return err
	}
	if m.Name != nil {
		if err := checkName(*m.Name); err != nil {
			return err
		}
	}
	if m.Topic != nil {
		if err := checkText("topic", *m.Topic, MaxTopicLen, true); err != nil {
			return err
		}
	}
	if m.Name == nil && m.Topic == nil && m.Archived == nil {
		return fmt.Errorf("nothing to update: give name, topic or archived")
	}
	return nil
}

func (m *StartCall) validate() error {
	if m.ClickToCall {
		if m.User != "" || m.Conversation != "" || m.Phone != "" {
			return fmt.Errorf("clickToCall calls the widget's phone: give no user, conversation or phone")
		}
		return nil
	}
	if m.Phone != "" {
		if m.User != "" || m.Conversation != "" {
			return fmt.Errorf("give one of user, conversation or phone")
		}
		return checkPhone(m.Phone)
	}
	if (m.User == "") == (m.Conversation == "") {
		return fmt.Errorf("give either user or conversation")
	}
	if m.User != "" {
		return checkUserID(m.User)
	}
	return checkConv(m.Conversation)
}

// checkPhone accepts what names a phone: an extension or a username, at
// most 64 printable ASCII characters without spaces (SIP user parts).
func checkPhone(p string) error {
	if len(p) > 64 {
		return fmt.Errorf("phone is longer than 64 characters")
	}
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] >= 0x7f {
			return fmt.Errorf("phone must be printable ASCII without spaces")
		}
	}
	return nil
}

func (m *CallAction) validate() error {
	if m.Call == "" || len(m.Call) > maxIDLen {
		return fmt.Errorf("call must be a call id")
	}
	return nil
}

// maxTransferTarget bounds a transfer target: a number, an extension, a
// username or a sip: URI.
const maxTransferTarget = 128

func (m *CallTransfer) validate() error {
	if m.Call == "" || len(m.Call) > maxIDLen {
		return fmt.Errorf("call must be a call id")
	}
	if m.Target == "" {
		return fmt.Errorf("target must name a number, an extension, a username or a sip: address")
	}
	if len(m.Target) > maxTransferTarget {
		return fmt.Errorf("target is longer than %d characters", maxTransferTarget)
	}
	for i := 0; i < len(m.Target); i++ {
		if c := m.Target[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"' {
			return fmt.Errorf("target must be printable ASCII without spaces, quotes or angle brackets")
		}
	}
	return nil
}

func (m *CallAdd) validate() error {
	if m.Call == "" || len(m.Call) > maxIDLen {
		return fmt.Errorf("call must be a call id")
	}
	if len(m.Users) == 0 {
		return fmt.Errorf("users must name at least one user")
	}
	return checkUsers(m.Users, MaxInvite)
}
