package client

import (
	"encoding/json"
	"fmt"

	"switchboard/internal/protocol"
)

// server messages by type, for the client side.
var serverMessages = map[string]func() protocol.Message{
	"joined": func() protocol.Message { return &protocol.Joined{} }, "waiting": func() protocol.Message { return &protocol.Waiting{} },
	"ok": func() protocol.Message { return &protocol.OK{} }, "pong": func() protocol.Message { return &protocol.Pong{} },
	"error": func() protocol.Message { return &protocol.Error{} }, "answer": func() protocol.Message { return &protocol.Answer{} },
	"offer": func() protocol.Message { return &protocol.Offer{} }, "candidate": func() protocol.Message { return &protocol.CandidateMsg{} },
	"published":           func() protocol.Message { return &protocol.Published{} },
	"participant-joined":  func() protocol.Message { return &protocol.ParticipantJoined{} },
	"participant-updated": func() protocol.Message { return &protocol.ParticipantUpdated{} },
	"participant-left":    func() protocol.Message { return &protocol.ParticipantLeft{} },
	"track-added":         func() protocol.Message { return &protocol.TrackAdded{} },
	"track-updated":       func() protocol.Message { return &protocol.TrackUpdated{} },
	"track-removed":       func() protocol.Message { return &protocol.TrackRemoved{} },
	"speakers":            func() protocol.Message { return &protocol.Speakers{} },
	"room-updated":        func() protocol.Message { return &protocol.RoomUpdated{} },
	"lobby":               func() protocol.Message { return &protocol.Lobby{} },
	"chat":                func() protocol.Message { return &protocol.Chat{} },
	"quality":             func() protocol.Message { return &protocol.Quality{} },
	"muted":               func() protocol.Message { return &protocol.Muted{} },
	"bye":                 func() protocol.Message { return &protocol.Bye{} },
	"relay":               func() protocol.Message { return &protocol.Relay{} },
	"dial-progress":       func() protocol.Message { return &protocol.DialProgress{} },
}

func decodeServer(data []byte) (protocol.Message, error) {
	var head protocol.Head
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, err
	}
	mk, ok := serverMessages[head.Type]
	if !ok {
		return nil, fmt.Errorf("unknown server message %q", head.Type)
	}
	m := mk()
	return m, json.Unmarshal(data, m)
}
