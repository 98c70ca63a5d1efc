package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Error codes of docs/protocol.md.
const (
	CodeBadRequest         = "bad_request"
	CodeUnknownType        = "unknown_type"
	CodeUnsupportedVersion = "unsupported_version"
	CodeTooLarge           = "too_large"
	CodeRateLimited        = "rate_limited"
	CodeNotJoined          = "not_joined"
	CodeUnauthorized       = "unauthorized"
	CodeTokenExpired       = "token_expired"
	CodeForbidden          = "forbidden"
	CodeNotFound           = "not_found"
	CodeRoomFull           = "room_full"
	CodeRoomLocked         = "room_locked"
	CodeDenied             = "denied"
	CodeInvalidState       = "invalid_state"
	CodeInternal           = "internal"
)

// MaxFrame is the largest frame a client may send.
const MaxFrame = 64 << 10

// Errorf builds a protocol error for the reply to a request.
func Errorf(code, format string, a ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// requests are the messages a client may send, by type.
var requests = map[string]func() Message{
	"join":      func() Message { return &Join{} },
	"offer":     func() Message { return &Offer{} },
	"answer":    func() Message { return &Answer{} },
	"candidate": func() Message { return &CandidateMsg{} },
	"restart":   func() Message { return &Restart{} },
	"view":      func() Message { return &View{} },
	"mute":      func() Message { return &Mute{} },
	"unpublish": func() Message { return &Unpublish{} },
	"chat":      func() Message { return &Chat{} },
	"hand":      func() Message { return &Hand{} },
	"host":      func() Message { return &Host{} },
	"ping":      func() Message { return &Ping{} },
	"leave":     func() Message { return &Leave{} },
	"relay":     func() Message { return &Relay{} },
	"dialOut":   func() Message { return &DialOut{} },
}

// Decode parses one client frame of the meeting signalling into its message type and checks its
// fields. On failure the returned error is an *Error carrying the request id when one could be
// read, ready to send back.
func Decode(data []byte) (Message, error) { return decode(data, requests) }

// PeekID is the request id of a frame, or "" when none can be read.
func PeekID(data []byte) string {
	var head Head
	if json.Unmarshal(data, &head) != nil || len(head.ID) > maxIDLen {
		return ""
	}
	return head.ID
}

// decode parses a frame with the given registry of request types.
func decode(data []byte, registry map[string]func() Message) (Message, error) {
	// The head is read first, also from a frame that is too large, so that
	// the error answers the request by its id.
	var head Head
	if err := json.Unmarshal(data, &head); err != nil {
		if len(data) > MaxFrame {
			return nil, Errorf(CodeTooLarge, "frame of %d bytes exceeds the limit of %d", len(data), MaxFrame)
		}
		return nil, Errorf(CodeBadRequest, "not a JSON object with a string type: %v", err)
	}
	fail := func(code, format string, a ...any) (Message, error) {
		e := Errorf(code, format, a...)
		if len(head.ID) <= maxIDLen {
			e.ID = head.ID
		}
		return nil, e
	}
	if len(data) > MaxFrame {
		return fail(CodeTooLarge, "frame of %d bytes exceeds the limit of %d", len(data), MaxFrame)
	}
	if len(head.ID) > maxIDLen {
		return fail(CodeBadRequest, "id is longer than %d characters", maxIDLen)
	}
	newMsg, ok := registry[head.Type]
	if !ok {
		return fail(CodeUnknownType, "unknown message type %q", head.Type)
	}
	m := newMsg()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(m); err != nil {
		return fail(CodeBadRequest, "%s: %v", head.Type, err)
	}
	if dec.More() {
		return fail(CodeBadRequest, "%s: trailing data after the JSON object", head.Type)
	}
	if v, ok := m.(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			var pe *Error
			if errors.As(err, &pe) {
				return fail(pe.Code, "%s: %s", head.Type, pe.Message)
			}
			return fail(CodeBadRequest, "%s: %v", head.Type, err)
		}
	}
	return m, nil
}

// Encode serialises a server message, setting its type.
func Encode(m Message) []byte {
	m.head().Type = m.TypeName()
	b, err := json.Marshal(m)
	if err != nil {
		// Only unsupported values (a programming error) make Marshal fail.
		panic(fmt.Sprintf("protocol: encoding %T: %v", m, err))
	}
	return b
}

const (
	maxIDLen   = 64
	maxNameLen = 64
	MaxChatLen = 4000
	maxSDPLen  = 60 << 10
)

// RoomIDPattern is what a room id may look like.
var RoomIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

var sources = map[string]bool{"camera": true, "microphone": true, "screen": true}

func checkPC(pc string) error {
	if pc != PCPublish && pc != PCSubscribe {
		return fmt.Errorf("pc must be %q or %q", PCPublish, PCSubscribe)
	}
	return nil
}

func checkTrackID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("track must be a track id")
	}
	return nil
}

func (m *Join) validate() error {
	if !RoomIDPattern.MatchString(m.Room) {
		return fmt.Errorf("room must be 1-64 characters of A-Z a-z 0-9 _ -")
	}
	m.Name = strings.TrimSpace(m.Name)
	if utf8.RuneCountInString(m.Name) > maxNameLen || !utf8.ValidString(m.Name) {
		return fmt.Errorf("name must be at most %d characters", maxNameLen)
	}
	if strings.ContainsFunc(m.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("name must not contain control characters")
	}
	return nil
}

func (m *Offer) validate() error {
	if err := checkPC(m.PC); err != nil {
		return err
	}
	if m.PC != PCPublish {
		return fmt.Errorf("clients offer only on the %q connection", PCPublish)
	}
	if m.SDP == "" || len(m.SDP) > maxSDPLen {
		return fmt.Errorf("sdp is empty or too long")
	}
	if len(m.Tracks) > 16 {
		return fmt.Errorf("at most 16 tracks per offer")
	}
	for id, src := range m.Tracks {
		if id == "" || len(id) > 128 || !sources[src] {
			return fmt.Errorf("tracks maps track ids to camera, microphone or screen; got %q: %q", id, src)
		}
	}
	return nil
}

func (m *Answer) validate() error {
	if err := checkPC(m.PC); err != nil {
		return err
	}
	if m.PC != PCSubscribe {
		return fmt.Errorf("clients answer only on the %q connection", PCSubscribe)
	}
	if m.SDP == "" || len(m.SDP) > maxSDPLen {
		return fmt.Errorf("sdp is empty or too long")
	}
	return nil
}

func (m *CandidateMsg) validate() error { return checkPC(m.PC) }

func (m *View) validate() error {
	if err := checkTrackID(m.Track); err != nil {
		return err
	}
	if m.Width < 0 || m.Height < 0 || m.Width > 16384 || m.Height > 16384 {
		return fmt.Errorf("width and height must be between 0 and 16384")
	}
	return nil
}

func (m *Mute) validate() error      { return checkTrackID(m.Track) }
func (m *Unpublish) validate() error { return checkTrackID(m.Track) }

func (m *Chat) validate() error {
	if m.Message != nil {
		return fmt.Errorf("message is set by the server")
	}
	if m.Text == "" && m.File == "" {
		return fmt.Errorf("text or file is required")
	}
	if utf8.RuneCountInString(m.Text) > MaxChatLen || !utf8.ValidString(m.Text) {
		return fmt.Errorf("text must be valid UTF-8 of at most %d characters", MaxChatLen)
	}
	return nil
}

var hostActions = map[string]bool{"mute": true, "remove": true, "lock": true, "unlock": true,
	"lobby-on": true, "lobby-off": true, "admit": true, "deny": true}

func (m *Host) validate() error {
	if !hostActions[m.Action] {
		return fmt.Errorf("unknown action %q", m.Action)
	}
	switch m.Action {
	case "mute", "remove", "admit", "deny":
		if m.Participant == "" {
			return fmt.Errorf("action %s needs a participant", m.Action)
		}
	}
	return nil
}

func (m *Relay) validate() error {
	if m.To == "" || m.From != "" {
		return fmt.Errorf("relay needs to and must not set from")
	}
	if len(m.Data) == 0 || !json.Valid(m.Data) {
		return fmt.Errorf("data must be a JSON value")
	}
	return nil
}

// WithID sets the request id a reply answers, and returns the message.
func WithID(m Message, id string) Message {
	m.head().ID = id
	return m
}

// Check validates a message decoded by other means (the REST API decodes
// request bodies into the same types), with the rules Decode applies.
func Check(m Message) error {
	if v, ok := m.(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			var pe *Error
			if errors.As(err, &pe) {
				return pe
			}
			return Errorf(CodeBadRequest, "%v", err)
		}
	}
	return nil
}
