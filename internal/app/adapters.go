package app

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"switchboard/internal/httpd"
	"switchboard/internal/protocol"
	"switchboard/internal/room"
	"switchboard/internal/signal"
	"switchboard/internal/store"
)

// chatLog keeps room chat in the store.
type chatLog struct{ s *store.Store }

func (c chatLog) AppendChat(ctx context.Context, roomID string, m protocol.ChatMessage) (protocol.ChatMessage, error) {
	sm := store.ChatMessage{ParticipantID: m.From, Name: m.Name, Text: m.Text}
	if m.File != nil {
		sm.FileID, sm.FileName, sm.FileSize, sm.FileType = m.File.ID, m.File.Name, m.File.Size, m.File.Type
	}
	saved, err := c.s.AppendChat(ctx, roomID, sm)
	if err != nil {
		return protocol.ChatMessage{}, err
	}
	return toProtocol(roomID, saved), nil
}

func (c chatLog) ChatHistory(ctx context.Context, roomID string) ([]protocol.ChatMessage, error) {
	msgs, err := c.s.ChatHistory(ctx, roomID, 0, store.MaxHistory)
	if err != nil {
		return nil, err
	}
	out := make([]protocol.ChatMessage, len(msgs))
	for i, m := range msgs {
		out[i] = toProtocol(roomID, m)
	}
	return out, nil
}

func (c chatLog) FileInfo(ctx context.Context, roomID, id string) (protocol.FileInfo, error) {
	meta, f, err := c.s.OpenFile(ctx, roomID, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return protocol.FileInfo{}, signal.ErrFileNotFound
		}
		return protocol.FileInfo{}, err
	}
	f.Close()
	return httpd.FileInfo(meta), nil
}

func toProtocol(roomID string, m store.ChatMessage) protocol.ChatMessage {
	out := protocol.ChatMessage{Seq: m.Seq, From: m.ParticipantID, Name: m.Name, Text: m.Text, At: m.CreatedAt.UTC().Format(time.RFC3339)}
	if m.FileID != "" {
		fi := httpd.FileInfo(store.File{ID: m.FileID, Room: roomID, Name: m.FileName, Size: m.FileSize, ContentType: m.FileType})
		out.File = &fi
	}
	return out
}

// roomStore keeps rooms created through the API.
type roomStore struct{ s *store.Store }

func (r roomStore) SaveRoom(ctx context.Context, id string, s room.Settings) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return r.s.SaveRoom(ctx, store.Room{ID: id, Settings: b})
}

func (r roomStore) LoadRoom(ctx context.Context, id string) (room.Settings, error) {
	saved, err := r.s.Room(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return room.Settings{}, room.ErrNotFound
	}
	if err != nil {
		return room.Settings{}, err
	}
	var s room.Settings
	if len(saved.Settings) > 0 {
		if err := json.Unmarshal(saved.Settings, &s); err != nil {
			return room.Settings{}, err
		}
	}
	return s, nil
}

func (r roomStore) DeleteRoom(ctx context.Context, id string) error {
	err := r.s.DeleteRoom(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return room.ErrNotFound
	}
	return err
}
