package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Conversation kinds.
const (
	Direct  = "direct"  // two people; one per pair
	Group   = "group"   // invite-only
	Channel = "channel" // open to everyone in the organisation
)

// Conversation is a direct conversation, a group or a channel.
type Conversation struct {
	ID           string
	Kind         string
	Name         string
	Topic        string
	CreatedBy    string
	CreatedAt    time.Time
	LastSeq      int64     // the newest entry of its log
	LastActivity time.Time // when the last message was sent, for sorting
	Archived     bool
}

// Member is a user's membership of a conversation, with their read cursor.
type Member struct {
	ConversationID string
	UserID         string
	Role           string // owner or member
	JoinedAt       time.Time
	ReadSeq        int64 // the newest entry the user has read
	DeliveredSeq   int64 // the newest entry that reached one of the user's devices
	Muted          bool
}

// Inbox is one conversation as a member sees it in their list.
type Inbox struct {
	Conversation
	Me     Member
	Unread int64 // messages from others after Me.ReadSeq
}

const conversationColumns = `c.id, c.kind, c.name, c.topic, c.created_by, c.created_at, c.last_seq, c.last_activity, c.archived`

func scanConversation(row interface{ Scan(...any) error }, extra ...any) (Conversation, error) {
	var c Conversation
	var created, activity int64
	err := row.Scan(append([]any{&c.ID, &c.Kind, &c.Name, &c.Topic, &c.CreatedBy, &created, &c.LastSeq, &activity, &c.Archived}, extra...)...)
	c.CreatedAt, c.LastActivity = fromMillis(created), fromMillis(activity)
	return c, err
}

// CreateConversation creates a group or channel with its members; the
// creator (c.CreatedBy) is its owner. Use DirectConversation for direct ones.
func (s *Store) CreateConversation(ctx context.Context, c Conversation, members []string) (Conversation, error) {
	if c.ID == "" || (c.Kind != Group && c.Kind != Channel) {
		return Conversation{}, fmt.Errorf("store: create conversation: need an id and kind group or channel, got %q %q", c.ID, c.Kind)
	}
	c.CreatedAt = s.stamp(c.CreatedAt)
	c.LastActivity = c.CreatedAt
	err := s.inTx(ctx, func(t *tx) error {
		if _, err := t.ExecContext(ctx,
			`INSERT INTO conversations (id, kind, name, topic, created_by, created_at, last_activity)
			 VALUES (?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.Kind, c.Name, c.Topic, c.CreatedBy, millis(c.CreatedAt), millis(c.CreatedAt)); err != nil {
			return exists(err)
		}
		for _, u := range uniqueWith(members, c.CreatedBy) {
			role := "member"
			if u == c.CreatedBy {
				role = "owner"
			}
			if err := insertMember(ctx, t, c.ID, u, role, c.CreatedAt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Conversation{}, fmt.Errorf("store: create conversation: %w", err)
	}
	return c, nil
}

// DirectConversation returns the direct conversation between users a and b,
// creating it (with id newID) if there is none. created tells which.
func (s *Store) DirectConversation(ctx context.Context, newID, a, b string) (c Conversation, created bool, err error) {
	if a == "" || b == "" || a == b {
		return Conversation{}, false, errors.New("store: direct conversation needs two different users")
	}
	c, created, err = s.directConversation(ctx, newID, a, b)
	if errors.Is(err, ErrExists) {
		// On PostgreSQL another transaction created it between our read and
		// our insert: now the read finds it.
		c, created, err = s.directConversation(ctx, newID, a, b)
	}
	if err != nil {
		return Conversation{}, false, fmt.Errorf("store: direct conversation: %w", err)
	}
	return c, created, nil
}

func (s *Store) directConversation(ctx context.Context, newID, a, b string) (c Conversation, created bool, err error) {
	pair := []string{a, b}
	slices.Sort(pair)
	key := strings.Join(pair, " ")
	err = s.inTx(ctx, func(t *tx) error {
		c, err = scanConversation(t.QueryRowContext(ctx,
			`SELECT `+conversationColumns+` FROM conversations c WHERE c.direct_key = ?`, key))
		if err == nil {
			return nil
		}
		if err := notFound(err); !errors.Is(err, ErrNotFound) {
			return err
		}
		now := s.stamp(time.Time{})
		c = Conversation{ID: newID, Kind: Direct, CreatedBy: a, CreatedAt: now, LastActivity: now}
		if _, err := t.ExecContext(ctx,
			`INSERT INTO conversations (id, kind, direct_key, created_by, created_at, last_activity)
			 VALUES (?, 'direct', ?, ?, ?, ?)`, newID, key, a, millis(now), millis(now)); err != nil {
			return exists(err)
		}
		for _, u := range pair {
			if err := insertMember(ctx, t, newID, u, "member", now); err != nil {
				return err
			}
		}
		created = true
		return nil
	})
	return c, created, err
}

func insertMember(ctx context.Context, t *tx, conv, user, role string, at time.Time) error {
	// A new member's cursors start at the current end of the log: what was
	// said before they joined is history to scroll back through, not unread.
	_, err := t.ExecContext(ctx,
		`INSERT INTO members (conversation_id, user_id, role, joined_at, read_seq, delivered_seq)
		 SELECT ?, ?, ?, ?, last_seq, last_seq FROM conversations WHERE id = ?`,
		conv, user, role, millis(at), conv)
	return exists(err)
}

// Conversation returns the conversation with the given id.
func (s *Store) Conversation(ctx context.Context, id string) (Conversation, error) {
	c, err := scanConversation(s.r.QueryRowContext(ctx,
		`SELECT `+conversationColumns+` FROM conversations c WHERE c.id = ?`, id))
	if err != nil {
		return Conversation{}, notFound(err)
	}
	return c, nil
}

// UpdateConversation changes what is not nil of name, topic and archived.
func (s *Store) UpdateConversation(ctx context.Context, id string, name, topic *string, archived *bool) (Conversation, error) {
	var arch *int
	if archived != nil {
		v := boolInt(*archived)
		arch = &v
	}
	res, err := s.w.ExecContext(ctx,
		`UPDATE conversations SET name = COALESCE(?, name), topic = COALESCE(?, topic),
		   archived = COALESCE(?, archived) WHERE id = ?`, name, topic, arch, id)
	if err != nil {
		return Conversation{}, fmt.Errorf("store: update conversation: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Conversation{}, ErrNotFound
	}
	return s.Conversation(ctx, id)
}

// Channels lists the channels that are not archived, by name.
func (s *Store) Channels(ctx context.Context) ([]Conversation, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+conversationColumns+` FROM conversations c WHERE c.kind = 'channel' AND c.archived = 0 ORDER BY c.name, c.id`)
	if err != nil {
		return nil, fmt.Errorf("store: channels: %w", err)
	}
	defer rows.Close()
	out := []Conversation{}
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, fmt.Errorf("store: channels: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

const memberColumns = `m.conversation_id, m.user_id, m.role, m.joined_at, m.read_seq, m.delivered_seq, m.muted`

func scanMember(row interface{ Scan(...any) error }) (Member, error) {
	var m Member
	var joined int64
	err := row.Scan(&m.ConversationID, &m.UserID, &m.Role, &joined, &m.ReadSeq, &m.DeliveredSeq, &m.Muted)
	m.JoinedAt = fromMillis(joined)
	return m, err
}

// Member returns user's membership of conv, or ErrNotFound if they are not in it.
func (s *Store) Member(ctx context.Context, conv, user string) (Member, error) {
	m, err := scanMember(s.r.QueryRowContext(ctx,
		`SELECT `+memberColumns+` FROM members m WHERE m.conversation_id = ? AND m.user_id = ?`, conv, user))
	return m, notFound(err)
}

// Members lists conv's members in the order they joined.
func (s *Store) Members(ctx context.Context, conv string) ([]Member, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+memberColumns+` FROM members m WHERE m.conversation_id = ? ORDER BY m.joined_at, m.user_id`, conv)
	if err != nil {
		return nil, fmt.Errorf("store: members: %w", err)
	}
	defer rows.Close()
	out := []Member{}
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, fmt.Errorf("store: members: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// MutedMembers lists the user ids of conv's members who muted it: one query
// for the notifications of a message, however many members there are.
func (s *Store) MutedMembers(ctx context.Context, conv string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT user_id FROM members WHERE conversation_id = ? AND muted = 1 ORDER BY user_id`, conv)
	if err != nil {
		return nil, fmt.Errorf("store: muted members: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: muted members: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// AddMember adds user to conv (ErrExists if already there).
func (s *Store) AddMember(ctx context.Context, conv, user, role string) (Member, error) {
	err := s.inTx(ctx, func(t *tx) error {
		return insertMember(ctx, t, conv, user, role, s.stamp(time.Time{}))
	})
	if err != nil {
		return Member{}, err
	}
	return s.Member(ctx, conv, user)
}

// RemoveMember removes user from conv. A group or channel whose last owner
// leaves is not left without one: the member who joined first (by user id
// among those who joined at the same moment) becomes its owner.
func (s *Store) RemoveMember(ctx context.Context, conv, user string) error {
	err := s.inTx(ctx, func(t *tx) error {
		res, err := t.ExecContext(ctx, `DELETE FROM members WHERE conversation_id = ? AND user_id = ?`, conv, user)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		_, err = t.ExecContext(ctx,
			`UPDATE members SET role = 'owner' WHERE conversation_id = ? AND user_id = (
			   SELECT m.user_id FROM members m WHERE m.conversation_id = ? ORDER BY m.joined_at, m.user_id LIMIT 1)
			 AND NOT EXISTS (SELECT 1 FROM members o WHERE o.conversation_id = ? AND o.role = 'owner')
			 AND (SELECT kind FROM conversations WHERE id = ?) <> 'direct'`, conv, conv, conv, conv)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store: remove member: %w", err)
	}
	return nil
}

// SetMuted mutes or unmutes conv for user.
func (s *Store) SetMuted(ctx context.Context, conv, user string, muted bool) error {
	res, err := s.w.ExecContext(ctx, `UPDATE members SET muted = ? WHERE conversation_id = ? AND user_id = ?`, boolInt(muted), conv, user)
	if err != nil {
		return fmt.Errorf("store: mute: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// MarkRead moves user's read cursor in conv forward to seq (never back, and
// never past the end of the log); delivery is implied. It returns the
// membership as it is afterwards.
func (s *Store) MarkRead(ctx context.Context, conv, user string, seq int64) (Member, error) {
	return s.moveCursor(ctx, conv, user, seq, true)
}

// MarkDelivered moves user's delivered cursor in conv forward to seq.
func (s *Store) MarkDelivered(ctx context.Context, conv, user string, seq int64) (Member, error) {
	return s.moveCursor(ctx, conv, user, seq, false)
}

func (s *Store) moveCursor(ctx context.Context, conv, user string, seq int64, read bool) (Member, error) {
	// The cursor is capped at the end of the log, so a client cannot mark
	// messages read that do not exist yet.
	capped := `MAX(%[1]s, MIN(?, (SELECT last_seq FROM conversations WHERE id = ?)))`
	q := `UPDATE members SET ` + fmt.Sprintf(`delivered_seq = `+capped, "delivered_seq")
	args := []any{seq, conv}
	if read {
		q += fmt.Sprintf(`, read_seq = `+capped, "read_seq")
		args = append(args, seq, conv)
	}
	q += ` WHERE conversation_id = ? AND user_id = ?`
	if s.pg {
		q = strings.NewReplacer("MAX(", "GREATEST(", "MIN(", "LEAST(").Replace(q)
	}
	res, err := s.w.ExecContext(ctx, q, append(args, conv, user)...)
	if err != nil {
		return Member{}, fmt.Errorf("store: move cursor: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Member{}, ErrNotFound
	}
	return s.Member(ctx, conv, user)
}

// unreadCount counts the messages of member m that are unread: text and call
// messages from others after m's read cursor, not deleted.
const unreadCount = `(SELECT COUNT(*) FROM messages x WHERE x.conversation_id = m.conversation_id AND x.seq > m.read_seq
	AND x.kind IN ('text', 'call') AND x.sender_id <> m.user_id AND x.deleted_at = 0)`

// Unread returns how many messages of conv user has not read (see Inbox),
// or ErrNotFound if user is not a member.
func (s *Store) Unread(ctx context.Context, conv, user string) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx,
		`SELECT `+unreadCount+` FROM members m WHERE m.conversation_id = ? AND m.user_id = ?`, conv, user).Scan(&n)
	if err != nil {
		return 0, notFound(err)
	}
	return n, nil
}

// Inbox lists user's conversations, most recently active first, with their
// unread counts.
func (s *Store) Inbox(ctx context.Context, user string) ([]Inbox, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+conversationColumns+`, `+memberColumns+`, `+unreadCount+`
		 FROM members m JOIN conversations c ON c.id = m.conversation_id
		 WHERE m.user_id = ? ORDER BY c.last_activity DESC, c.id`, user)
	if err != nil {
		return nil, fmt.Errorf("store: inbox: %w", err)
	}
	defer rows.Close()
	out := []Inbox{}
	for rows.Next() {
		var in Inbox
		var joined int64
		in.Conversation, err = scanConversation(rows, &in.Me.ConversationID, &in.Me.UserID, &in.Me.Role, &joined,
			&in.Me.ReadSeq, &in.Me.DeliveredSeq, &in.Me.Muted, &in.Unread)
		if err != nil {
			return nil, fmt.Errorf("store: inbox: %w", err)
		}
		in.Me.JoinedAt = fromMillis(joined)
		out = append(out, in)
	}
	return out, rows.Err()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// inTx runs f in a write transaction, committing if it returns nil.
func (s *Store) inTx(ctx context.Context, f func(*tx) error) error {
	t, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer t.Rollback()
	if err := f(t); err != nil {
		return err
	}
	return t.Commit()
}

// uniqueWith returns list with extra added, without duplicates or empties,
// in first-seen order.
func uniqueWith(list []string, extra string) []string {
	out := make([]string, 0, len(list)+1)
	for _, u := range append([]string{extra}, list...) {
		if u != "" && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// ConversationsOf lists the ids of the conversations user is a member of.
func (s *Store) ConversationsOf(ctx context.Context, user string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT conversation_id FROM members WHERE user_id = ? ORDER BY conversation_id`, user)
	if err != nil {
		return nil, fmt.Errorf("store: conversations of: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: conversations of: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
