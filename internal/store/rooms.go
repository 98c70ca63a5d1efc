package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
)

// Room is a room created by link; it is saved so the link keeps working
// after a restart. Settings is opaque JSON owned by the room package.
type Room struct {
	ID        string
	CreatedAt time.Time
	Settings  json.RawMessage
	CreatedBy string
}

// SaveRoom inserts r, or updates the settings of an existing room (its
// CreatedAt and CreatedBy are kept). A zero CreatedAt is set to now; empty
// Settings are stored as {}.
func (s *Store) SaveRoom(ctx context.Context, r Room) error {
	if r.ID == "" {
		return errors.New("store: save room: empty id")
	}
	settings := string(r.Settings)
	if len(r.Settings) == 0 {
		settings = "{}"
	} else if !json.Valid(r.Settings) {
		return fmt.Errorf("store: save room %q: settings are not valid JSON", r.ID)
	}
	_, err := s.w.ExecContext(ctx,
		`INSERT INTO rooms (id, created_at, settings, created_by) VALUES (?, ?, ?, ?)
		 ON CONFLICT (id) DO UPDATE SET settings = excluded.settings`,
		r.ID, millis(s.stamp(r.CreatedAt)), settings, r.CreatedBy)
	if err != nil {
		return fmt.Errorf("store: save room %q: %w", r.ID, err)
	}
	return nil
}

// Room returns a saved room, or ErrNotFound.
func (s *Store) Room(ctx context.Context, id string) (Room, error) {
	r := Room{ID: id}
	var created int64
	var settings string
	err := s.r.QueryRowContext(ctx,
		`SELECT created_at, settings, created_by FROM rooms WHERE id = ?`, id).
		Scan(&created, &settings, &r.CreatedBy)
	if err != nil {
		return Room{}, fmt.Errorf("store: room %q: %w", id, notFound(err))
	}
	r.CreatedAt, r.Settings = fromMillis(created), json.RawMessage(settings)
	return r, nil
}

// Rooms lists saved rooms, oldest first.
func (s *Store) Rooms(ctx context.Context) ([]Room, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT id, created_at, settings, created_by FROM rooms ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: rooms: %w", err)
	}
	defer rows.Close()
	rooms := []Room{}
	for rows.Next() {
		var r Room
		var created int64
		var settings string
		if err := rows.Scan(&r.ID, &created, &settings, &r.CreatedBy); err != nil {
			return nil, fmt.Errorf("store: rooms: %w", err)
		}
		r.CreatedAt, r.Settings = fromMillis(created), json.RawMessage(settings)
		rooms = append(rooms, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: rooms: %w", err)
	}
	return rooms, nil
}

// DeleteRoom removes the room, its chat history and its files (rows and
// content). Chat and files of a room that was never saved are removed too;
// ErrNotFound means nothing at all was stored under id.
func (s *Store) DeleteRoom(ctx context.Context, id string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: delete room: %w", err)
	}
	defer tx.Rollback()

	rows, err := tx.QueryContext(ctx, `SELECT id FROM files WHERE room = ?`, id)
	if err != nil {
		return fmt.Errorf("store: delete room: %w", err)
	}
	var fileIDs []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			rows.Close()
			return fmt.Errorf("store: delete room: %w", err)
		}
		fileIDs = append(fileIDs, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: delete room: %w", err)
	}

	var total int64
	for _, q := range []string{
		`DELETE FROM files WHERE room = ?`,
		`DELETE FROM chat_messages WHERE room = ?`,
		`DELETE FROM rooms WHERE id = ?`,
	} {
		res, err := tx.ExecContext(ctx, q, id)
		if err != nil {
			return fmt.Errorf("store: delete room: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: delete room: %w", err)
		}
		total += n
	}
	if total == 0 {
		return fmt.Errorf("store: delete room %q: %w", id, ErrNotFound)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: delete room: %w", err)
	}

	// Content goes after the commit: a failed transaction must not lose
	// files that rows still point to. A crash here leaves orphans, not
	// dangling rows.
	var errs []error
	for _, f := range fileIDs {
		if err := os.Remove(s.filePath(f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: delete room %q files: %w", id, err)
	}
	return nil
}
