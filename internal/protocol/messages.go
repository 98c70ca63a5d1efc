// Package protocol defines the signalling messages of docs/protocol.md: one Go type per message, and
// the one place where client frames are decoded. It is a leaf package shared by room and signal.
package protocol

import "encoding/json"

// Version is the protocol version this server speaks (join.v).
const Version = 1

// Head is embedded in every message: its type and, for requests and their replies, the request id.
type Head struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

func (h *Head) head() *Head { return h }

// Message is any message of the protocol.
type Message interface {
	head() *Head
	TypeName() string
}

// RequestID returns the id a client gave its request, for the reply.
func RequestID(m Message) string { return m.head().ID }

// ---- shared shapes ----

// ParticipantInfo describes a participant to the others.
type ParticipantInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Host bool   `json:"host"`
	Hand bool   `json:"hand"`
}

// TrackInfo describes a published track.
type TrackInfo struct {
	ID          string `json:"id"`
	Participant string `json:"participant"`
	Kind        string `json:"kind"`   // audio | video
	Source      string `json:"source"` // camera | microphone | screen
	ClientID    string `json:"clientId,omitempty"`
	Muted       bool   `json:"muted"`
	Simulcast   bool   `json:"simulcast"`
}

// RoomInfo is the state of a room as participants see it.
type RoomInfo struct {
	ID              string `json:"id"`
	P2P             bool   `json:"p2p"`
	Locked          bool   `json:"locked"`
	Lobby           bool   `json:"lobby"`
	MaxParticipants int    `json:"maxParticipants"`
	// PIN and DialIn: phones join by calling the extension DialIn and keying PIN (when SIP is on).
	PIN    string `json:"pin,omitempty"`
	DialIn string `json:"dialIn,omitempty"`
}

// ChatMessage is one message of a room's chat.
type ChatMessage struct {
	Seq  int64     `json:"seq"`
	From string    `json:"from"`
	Name string    `json:"name"`
	Text string    `json:"text"`
	At   string    `json:"at"`
	File *FileInfo `json:"file,omitempty"`
}

// FileInfo describes a shared file.
type FileInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	Type string `json:"type"`
	URL  string `json:"url"`
}

// ICEServer is an entry of RTCConfiguration.iceServers.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Candidate is RTCIceCandidateInit.
type Candidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// Permissions are what the participant may do.
type Permissions struct {
	Publish   bool `json:"publish"`
	Subscribe bool `json:"subscribe"`
	Moderate  bool `json:"moderate"`
}

// PC names one of a session's two peer connections.
const (
	PCPublish   = "pub"
	PCSubscribe = "sub"
)

// ---- client to server ----

type Join struct {
	Head
	V      int    `json:"v"`
	Room   string `json:"room"`
	Name   string `json:"name,omitempty"`
	Token  string `json:"token,omitempty"`
	Resume string `json:"resume,omitempty"`
}

type Offer struct {
	Head
	PC     string            `json:"pc"`
	SDP    string            `json:"sdp"`
	Tracks map[string]string `json:"tracks,omitempty"`
}

type Answer struct {
	Head
	PC  string `json:"pc"`
	SDP string `json:"sdp"`
}

type CandidateMsg struct {
	Head
	PC        string     `json:"pc"`
	Candidate *Candidate `json:"candidate"`
}

type Restart struct{ Head }

type View struct {
	Head
	Track  string `json:"track"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

type Mute struct {
	Head
	Track string `json:"track"`
	Muted bool   `json:"muted"`
}

type Unpublish struct {
	Head
	Track string `json:"track"`
}

type Chat struct {
	Head
	Text    string       `json:"text,omitempty"`
	File    string       `json:"file,omitempty"`
	Message *ChatMessage `json:"message,omitempty"` // set by the server when it delivers
}

type Hand struct {
	Head
	Raised bool `json:"raised"`
}

type Host struct {
	Head
	Action      string `json:"action"`
	Participant string `json:"participant,omitempty"`
}

type Ping struct{ Head }

type Leave struct{ Head }

type Relay struct {
	Head
	To   string          `json:"to,omitempty"`
	From string          `json:"from,omitempty"`
	Data json.RawMessage `json:"data"`
}

// ---- server to client ----

type Joined struct {
	Head
	Session      string            `json:"session"`
	Resumed      bool              `json:"resumed"`
	Participant  ParticipantInfo   `json:"participant"`
	Room         RoomInfo          `json:"room"`
	Participants []ParticipantInfo `json:"participants"`
	Tracks       []TrackInfo       `json:"tracks"`
	Chat         []ChatMessage     `json:"chat"`
	ICEServers   []ICEServer       `json:"iceServers"`
	Permissions  Permissions       `json:"permissions"`
}

type Waiting struct{ Head }

type OK struct {
	Head
	Seq int64 `json:"seq,omitempty"`
}

type Pong struct{ Head }

type Error struct {
	Head
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

type Published struct {
	Head
	Track TrackInfo `json:"track"`
}

type ParticipantJoined struct {
	Head
	Participant ParticipantInfo `json:"participant"`
}

type ParticipantUpdated struct {
	Head
	Participant ParticipantInfo `json:"participant"`
}

type ParticipantLeft struct {
	Head
	Participant string `json:"participant"`
	Reason      string `json:"reason"`
}

type TrackAdded struct {
	Head
	Track TrackInfo `json:"track"`
}

type TrackUpdated struct {
	Head
	Track TrackInfo `json:"track"`
}

type TrackRemoved struct {
	Head
	Track string `json:"track"`
}

type Speakers struct {
	Head
	Participants []string `json:"participants"`
}

type RoomUpdated struct {
	Head
	Room RoomInfo `json:"room"`
}

type Lobby struct {
	Head
	Participant ParticipantInfo `json:"participant"`
}

type Quality struct {
	Head
	Participants map[string]string `json:"participants"`
}

type Muted struct {
	Head
	Track string `json:"track"`
	By    string `json:"by"`
}

type Bye struct {
	Head
	Reason string `json:"reason"`
}

func (*Join) TypeName() string               { return "join" }
func (*Offer) TypeName() string              { return "offer" }
func (*Answer) TypeName() string             { return "answer" }
func (*CandidateMsg) TypeName() string       { return "candidate" }
func (*Restart) TypeName() string            { return "restart" }
func (*View) TypeName() string               { return "view" }
func (*Mute) TypeName() string               { return "mute" }
func (*Unpublish) TypeName() string          { return "unpublish" }
func (*Chat) TypeName() string               { return "chat" }
func (*Hand) TypeName() string               { return "hand" }
func (*Host) TypeName() string               { return "host" }
func (*Ping) TypeName() string               { return "ping" }
func (*Leave) TypeName() string              { return "leave" }
func (*Relay) TypeName() string              { return "relay" }
func (*Joined) TypeName() string             { return "joined" }
func (*Waiting) TypeName() string            { return "waiting" }
func (*OK) TypeName() string                 { return "ok" }
func (*Pong) TypeName() string               { return "pong" }
func (*Error) TypeName() string              { return "error" }
func (*Published) TypeName() string          { return "published" }
func (*ParticipantJoined) TypeName() string  { return "participant-joined" }
func (*ParticipantUpdated) TypeName() string { return "participant-updated" }
func (*ParticipantLeft) TypeName() string    { return "participant-left" }
func (*TrackAdded) TypeName() string         { return "track-added" }
func (*TrackUpdated) TypeName() string       { return "track-updated" }
func (*TrackRemoved) TypeName() string       { return "track-removed" }
func (*Speakers) TypeName() string           { return "speakers" }
func (*RoomUpdated) TypeName() string        { return "room-updated" }
func (*Lobby) TypeName() string              { return "lobby" }
func (*Quality) TypeName() string            { return "quality" }
func (*Muted) TypeName() string              { return "muted" }
func (*Bye) TypeName() string                { return "bye" }
