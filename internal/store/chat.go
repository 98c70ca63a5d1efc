package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MaxHistory caps how many messages one ChatHistory call returns.
const MaxHistory = 500

// ChatMessage is one message in a room's chat log. A message that shares a
// file carries the file's id, name, size and type alongside any text.
type ChatMessage struct {
	Seq           int64 // assigned by AppendChat: 1, 2, 3... per room, no gaps
	ParticipantID string
	Name          string
	Text          string
	FileID        string
	FileName      string
	FileSize      int64
	FileType      string
	CreatedAt     time.Time
}

// AppendChat appends m to room's log and returns it with Seq and CreatedAt
// set. Clients sync with ChatHistory(afterSeq), so Seq must have no gaps:
// it is computed and inserted in one write transaction.
func (s *Store) AppendChat(ctx context.Context, room string, m ChatMessage) (ChatMessage, error) {
	if room == "" {
		return ChatMessage{}, errors.New("store: append chat: empty room")
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return ChatMessage{}, fmt.Errorf("store: append chat: %w", err)
	}
	defer tx.Rollback()
	if err := s.lockKey(ctx, tx, "chat:"+room); err != nil {
		return ChatMessage{}, fmt.Errorf("store: append chat: %w", err)
	}
	// Stamped under the write lock so CreatedAt never decreases as Seq grows.
	m.CreatedAt = s.stamp(time.Time{})
	if err := tx.QueryRowContext(ctx,
		`SELECT COALESCE(MAX(seq), 0) + 1 FROM chat_messages WHERE room = ?`, room).
		Scan(&m.Seq); err != nil {
		return ChatMessage{}, fmt.Errorf("store: append chat: %w", err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO chat_messages (room, seq, participant_id, name, text,
		   file_id, file_name, file_size, file_type, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		room, m.Seq, m.ParticipantID, m.Name, m.Text,
		m.FileID, m.FileName, m.FileSize, m.FileType, millis(m.CreatedAt)); err != nil {
		return ChatMessage{}, fmt.Errorf("store: append chat: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return ChatMessage{}, fmt.Errorf("store: append chat: %w", err)
	}
	return m, nil
}

// ChatHistory returns room's messages with Seq > afterSeq in Seq order, at
// most limit of them (limit <= 0 or above MaxHistory means MaxHistory).
func (s *Store) ChatHistory(ctx context.Context, room string, afterSeq int64, limit int) ([]ChatMessage, error) {
	if limit <= 0 || limit > MaxHistory {
		limit = MaxHistory
	}
	rows, err := s.r.QueryContext(ctx,
		`SELECT seq, participant_id, name, text, file_id, file_name, file_size, file_type, created_at
		 FROM chat_messages WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?`,
		room, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("store: chat history: %w", err)
	}
	defer rows.Close()
	msgs := []ChatMessage{}
	for rows.Next() {
		var m ChatMessage
		var created int64
		if err := rows.Scan(&m.Seq, &m.ParticipantID, &m.Name, &m.Text,
			&m.FileID, &m.FileName, &m.FileSize, &m.FileType, &created); err != nil {
			return nil, fmt.Errorf("store: chat history: %w", err)
		}
		m.CreatedAt = fromMillis(created)
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: chat history: %w", err)
	}
	return msgs, nil
}
