package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// Kinds of log entries. Text, call and system entries are messages people
// see; edit, delete and reaction entries change an earlier message (its
// TargetSeq), which is updated in the same transaction.
const (
	KindText     = "text"
	KindCall     = "call"
	KindSystem   = "system"
	KindEdit     = "edit"
	KindDelete   = "delete"
	KindReaction = "reaction"
)

var (
	// ErrNoTarget is returned for an edit, delete or reaction whose target is
	// not a live text message of the conversation.
	ErrNoTarget = errors.New("store: no such message")
	// ErrNoChange is returned for a reaction that is already there, or a
	// removal of one that is not.
	ErrNoChange = errors.New("store: nothing to change")
)

// MaxPage caps how many entries one Events, History or Search call returns.
const MaxPage = 500

// Message is an entry of a conversation's log.
type Message struct {
	ConversationID string
	Seq            int64 // 1, 2, 3... per conversation, no gaps
	Kind           string
	SenderID       string
	TxnID          string // the sender's idempotency key, "" for none
	Text           string
	TargetSeq      int64           // for edit, delete and reaction entries
	ThreadSeq      int64           // the thread root this message replies in, 0 if none
	ReplySeq       int64           // the message this one quotes, 0 if none
	Data           json.RawMessage // kind-specific: attachments and mentions, the emoji, call details
	EditedAt       time.Time       // zero unless edited
	DeletedAt      time.Time       // zero unless deleted (Text is then empty)
	CreatedAt      time.Time

	// Filled in by History and Thread only.
	Reactions []Reaction
	Replies   int // messages in the thread this one is the root of
}

// Reaction is one user's emoji on a message.
type Reaction struct {
	UserID string
	Emoji  string
}

// ReactionData is the Data of a reaction entry.
type ReactionData struct {
	Emoji string `json:"emoji"`
	Add   bool   `json:"add"`
}

// Revision is an earlier text of an edited or deleted message.
type Revision struct {
	Action    string // edit or delete
	EditorID  string
	Text      string // the text before the change
	RevisedAt time.Time
}

const messageColumns = `m.conversation_id, m.seq, m.kind, m.sender_id, COALESCE(m.txn_id, ''), m.text,
	m.target_seq, m.thread_seq, m.reply_seq, m.data, m.edited_at, m.deleted_at, m.created_at`

func scanMessage(row interface{ Scan(...any) error }) (Message, error) {
	var m Message
	var data string
	var edited, deleted, created int64
	err := row.Scan(&m.ConversationID, &m.Seq, &m.Kind, &m.SenderID, &m.TxnID, &m.Text,
		&m.TargetSeq, &m.ThreadSeq, &m.ReplySeq, &data, &edited, &deleted, &created)
	m.Data = json.RawMessage(data)
	m.CreatedAt = fromMillis(created)
	if edited != 0 {
		m.EditedAt = fromMillis(edited)
	}
	if deleted != 0 {
		m.DeletedAt = fromMillis(deleted)
	}
	return m, err
}

// MessageByTxn returns the message sender appended to conv with txn, or
// ErrNotFound.
func (s *Store) MessageByTxn(ctx context.Context, conv, sender, txn string) (Message, error) {
	m, err := scanMessage(s.r.QueryRowContext(ctx,
		`SELECT `+messageColumns+` FROM messages m WHERE m.conversation_id = ? AND m.sender_id = ? AND m.txn_id = ?`,
		conv, sender, txn))
	return m, notFound(err)
}

// AppendMessage appends m to its conversation's log with the next sequence
// number and returns it as stored. If the sender already appended a message
// with the same TxnID to this conversation, nothing is written and that
// message is returned with dup true: a client may retry a send safely.
//
// Edit, delete and reaction entries also change their target, in the same
// transaction; they fail with ErrNoTarget if it is not a live text message,
// and a reaction that changes nothing fails with ErrNoChange.
func (s *Store) AppendMessage(ctx context.Context, m Message) (out Message, dup bool, err error) {
	if m.ConversationID == "" || m.SenderID == "" || m.Kind == "" {
		return Message{}, false, errors.New("store: append message: conversation, sender and kind are required")
	}
	if len(m.Data) == 0 {
		m.Data = json.RawMessage(`{}`)
	} else if !json.Valid(m.Data) {
		return Message{}, false, errors.New("store: append message: data is not valid JSON")
	}
	var txn any
	if m.TxnID != "" {
		txn = m.TxnID
	}
	var gone []string // files of a deleted message, removed after the commit
	err = s.inTx(ctx, func(t *tx) error {
		// The row lock on the conversation, taken here, orders appends. The
		// retry check comes after it: a retry racing its original (a client
		// that reconnected before the first answer) waits here until the
		// original commits, and then finds it.
		if err := t.QueryRowContext(ctx,
			`UPDATE conversations SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq`,
			m.ConversationID).Scan(&m.Seq); err != nil {
			return notFound(err)
		}
		if m.TxnID != "" {
			prev, err := scanMessage(t.QueryRowContext(ctx,
				`SELECT `+messageColumns+` FROM messages m WHERE m.conversation_id = ? AND m.sender_id = ? AND m.txn_id = ?`,
				m.ConversationID, m.SenderID, m.TxnID))
			if err == nil {
				out, dup = prev, true
				return errDuplicate // roll back the sequence number taken above
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		// Stamped after the lock, so CreatedAt never decreases as Seq grows.
		m.CreatedAt = s.stamp(time.Time{})
		if m.Kind == KindText || m.Kind == KindCall {
			if _, err := t.ExecContext(ctx, `UPDATE conversations SET last_activity = ? WHERE id = ?`,
				millis(m.CreatedAt), m.ConversationID); err != nil {
				return err
			}
		}
		var err error
		if gone, err = s.applyToTarget(ctx, t, m); err != nil {
			return err
		}
		_, err = t.ExecContext(ctx,
			`INSERT INTO messages (conversation_id, seq, kind, sender_id, txn_id, text, target_seq, thread_seq, reply_seq, data, created_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.ConversationID, m.Seq, m.Kind, m.SenderID, txn, m.Text, m.TargetSeq, m.ThreadSeq, m.ReplySeq, string(m.Data), millis(m.CreatedAt))
		out = m
		return err
	})
	if errors.Is(err, errDuplicate) {
		return out, true, nil
	}
	if err != nil {
		return Message{}, false, fmt.Errorf("store: append message: %w", err)
	}
	s.removeFileContents(gone)
	return out, dup, nil
}

// errDuplicate ends an append's transaction without committing it.
var errDuplicate = errors.New("duplicate transaction id")

// applyToTarget makes the change an edit, delete or reaction entry describes.
// For a delete it returns the files whose rows went with the message, for
// the caller to remove from disk once the transaction has committed.
func (s *Store) applyToTarget(ctx context.Context, t *tx, m Message) ([]string, error) {
	switch m.Kind {
	case KindEdit, KindDelete, KindReaction:
	default:
		return nil, nil
	}
	var oldText, data string
	err := t.QueryRowContext(ctx,
		`SELECT text, data FROM messages WHERE conversation_id = ? AND seq = ? AND kind = 'text' AND deleted_at = 0`,
		m.ConversationID, m.TargetSeq).Scan(&oldText, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoTarget
	} else if err != nil {
		return nil, err
	}
	now := millis(m.CreatedAt)
	switch m.Kind {
	case KindEdit, KindDelete:
		if _, err := t.ExecContext(ctx,
			`INSERT INTO message_revisions (conversation_id, seq, revised_at, editor_id, action, text) VALUES (?, ?, ?, ?, ?, ?)`,
			m.ConversationID, m.TargetSeq, now, m.SenderID, m.Kind, oldText); err != nil {
			return nil, err
		}
		if m.Kind == KindEdit {
			_, err = t.ExecContext(ctx, `UPDATE messages SET text = ?, edited_at = ? WHERE conversation_id = ? AND seq = ?`,
				m.Text, now, m.ConversationID, m.TargetSeq)
			return nil, err
		}
		// A deleted message keeps its place in the log, without its text,
		// reactions or files; the text stays in message_revisions for admins.
		if _, err = t.ExecContext(ctx, `UPDATE messages SET text = '', deleted_at = ? WHERE conversation_id = ? AND seq = ?`,
			now, m.ConversationID, m.TargetSeq); err != nil {
			return nil, err
		}
		if _, err = t.ExecContext(ctx, `DELETE FROM reactions WHERE conversation_id = ? AND seq = ?`, m.ConversationID, m.TargetSeq); err != nil {
			return nil, err
		}
		return dropFiles(ctx, t, m.ConversationID, attachedFiles(data))
	default: // reaction
		var r ReactionData
		if err := json.Unmarshal(m.Data, &r); err != nil || r.Emoji == "" {
			return nil, errors.New("reaction without an emoji")
		}
		var res sql.Result
		if r.Add {
			res, err = t.ExecContext(ctx,
				`INSERT INTO reactions (conversation_id, seq, user_id, emoji, created_at) VALUES (?, ?, ?, ?, ?)
				 ON CONFLICT DO NOTHING`, m.ConversationID, m.TargetSeq, m.SenderID, r.Emoji, now)
		} else {
			res, err = t.ExecContext(ctx,
				`DELETE FROM reactions WHERE conversation_id = ? AND seq = ? AND user_id = ? AND emoji = ?`,
				m.ConversationID, m.TargetSeq, m.SenderID, r.Emoji)
		}
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, ErrNoChange
		}
		return nil, nil
	}
}

// ConversationFileRoom is the room of the file store that holds the files
// sent in conversation conv.
func ConversationFileRoom(conv string) string { return "conv:" + conv }

// attachedFiles returns the ids of the files a text entry's data attaches:
// data.attachments[].id, and the thumbnails, the last part of .thumb (a URL).
func attachedFiles(data string) []string {
	var d struct {
		Attachments []struct {
			ID    string `json:"id"`
			Thumb string `json:"thumb"`
		} `json:"attachments"`
	}
	json.Unmarshal([]byte(data), &d)
	var ids []string
	for _, a := range d.Attachments {
		ids = append(ids, a.ID)
		if a.Thumb != "" {
			ids = append(ids, a.Thumb[strings.LastIndexByte(a.Thumb, '/')+1:])
		}
	}
	return ids
}

// dropFiles deletes the rows of conv's files ids that no live message of conv
// attaches any more (a file may be sent twice), and returns their ids: their
// content is removed once the transaction has committed.
func dropFiles(ctx context.Context, t *tx, conv string, ids []string) ([]string, error) {
	var gone []string
	for _, id := range ids {
		if !validFileID(id) {
			continue
		}
		var used bool
		if err := t.QueryRowContext(ctx,
			`SELECT EXISTS (SELECT 1 FROM messages WHERE conversation_id = ? AND kind = 'text' AND deleted_at = 0 AND data LIKE ?)`,
			conv, "%"+id+"%").Scan(&used); err != nil {
			return nil, err
		}
		if used {
			continue
		}
		res, err := t.ExecContext(ctx, `DELETE FROM files WHERE room = ? AND id = ?`, ConversationFileRoom(conv), id)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			gone = append(gone, id)
		}
	}
	return gone, nil
}

// removeFileContents removes the content of files whose rows are gone. A
// failure leaves an orphan on disk, never a row without content.
func (s *Store) removeFileContents(ids []string) {
	for _, id := range ids {
		os.Remove(s.filePath(id))
	}
}

// Message returns one entry of a conversation's log.
func (s *Store) Message(ctx context.Context, conv string, seq int64) (Message, error) {
	m, err := scanMessage(s.r.QueryRowContext(ctx,
		`SELECT `+messageColumns+` FROM messages m WHERE m.conversation_id = ? AND m.seq = ?`, conv, seq))
	return m, notFound(err)
}

// Events returns conv's log entries with Seq > after, in order, at most limit
// (capped at MaxPage). This is how a client catches up: it asks for
// everything after the last entry it has, until a page comes back short.
// Entries are returned as they are now, so a text entry that was edited
// later already carries its new text; the edit entry follows.
func (s *Store) Events(ctx context.Context, conv string, after int64, limit int) ([]Message, error) {
	return s.messages(ctx,
		`SELECT `+messageColumns+` FROM messages m WHERE m.conversation_id = ? AND m.seq > ? ORDER BY m.seq LIMIT ?`,
		conv, after, pageSize(limit))
}

// History returns the messages of conv's main timeline (text, call and
// system entries that are not thread replies) with Seq < before (0: the
// newest), oldest first, at most limit, with their reactions and reply counts.
func (s *Store) History(ctx context.Context, conv string, before int64, limit int) ([]Message, error) {
	if before <= 0 {
		before = 1<<62 - 1
	}
	msgs, err := s.messages(ctx,
		`SELECT `+messageColumns+` FROM messages m
		 WHERE m.conversation_id = ? AND m.seq < ? AND m.kind IN ('text', 'call', 'system') AND m.thread_seq = 0
		 ORDER BY m.seq DESC LIMIT ?`, conv, before, pageSize(limit))
	if err != nil {
		return nil, err
	}
	for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	return msgs, s.decorate(ctx, conv, msgs)
}

// Thread returns the root message at seq followed by its replies with Seq >
// after, oldest first, at most limit replies (capped at MaxPage).
func (s *Store) Thread(ctx context.Context, conv string, root, after int64, limit int) ([]Message, error) {
	msgs, err := s.messages(ctx,
		`SELECT `+messageColumns+` FROM messages m
		 WHERE m.conversation_id = ? AND (m.seq = ? OR (m.thread_seq = ? AND m.seq > ?)) AND m.kind = 'text'
		 ORDER BY m.seq LIMIT ?`, conv, root, root, after, pageSize(limit)+1)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 || msgs[0].Seq != root {
		return nil, ErrNotFound
	}
	return msgs, s.decorate(ctx, conv, msgs)
}

// decorate adds reactions and thread reply counts to msgs (in Seq order).
func (s *Store) decorate(ctx context.Context, conv string, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	bySeq := make(map[int64]*Message, len(msgs))
	for i := range msgs {
		bySeq[msgs[i].Seq] = &msgs[i]
	}
	lo, hi := msgs[0].Seq, msgs[len(msgs)-1].Seq
	rows, err := s.r.QueryContext(ctx,
		`SELECT seq, user_id, emoji FROM reactions WHERE conversation_id = ? AND seq BETWEEN ? AND ?
		 ORDER BY seq, created_at, user_id`, conv, lo, hi)
	if err != nil {
		return fmt.Errorf("store: reactions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var r Reaction
		if err := rows.Scan(&seq, &r.UserID, &r.Emoji); err != nil {
			return fmt.Errorf("store: reactions: %w", err)
		}
		if m := bySeq[seq]; m != nil {
			m.Reactions = append(m.Reactions, r)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// "thread_seq > 0" lets the planner use the partial index messages_thread.
	rows, err = s.r.QueryContext(ctx,
		`SELECT thread_seq, COUNT(*) FROM messages WHERE conversation_id = ? AND thread_seq > 0 AND thread_seq BETWEEN ? AND ?
		 AND kind = 'text' AND deleted_at = 0 GROUP BY thread_seq`, conv, lo, hi)
	if err != nil {
		return fmt.Errorf("store: replies: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var n int
		if err := rows.Scan(&seq, &n); err != nil {
			return fmt.Errorf("store: replies: %w", err)
		}
		if m := bySeq[seq]; m != nil {
			m.Replies = n
		}
	}
	return rows.Err()
}

// Revisions returns the earlier texts of the message at seq, oldest first.
func (s *Store) Revisions(ctx context.Context, conv string, seq int64) ([]Revision, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT action, editor_id, text, revised_at FROM message_revisions
		 WHERE conversation_id = ? AND seq = ? ORDER BY revised_at, action`, conv, seq)
	if err != nil {
		return nil, fmt.Errorf("store: revisions: %w", err)
	}
	defer rows.Close()
	out := []Revision{}
	for rows.Next() {
		var r Revision
		var at int64
		if err := rows.Scan(&r.Action, &r.EditorID, &r.Text, &at); err != nil {
			return nil, fmt.Errorf("store: revisions: %w", err)
		}
		r.RevisedAt = fromMillis(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// MaxSearchTerms bounds the words of a search query.
const MaxSearchTerms = 8

// Search returns the live text messages in conversations user is a member of
// (only conv, if not empty) that contain every whitespace-separated term of
// query, anywhere and ignoring case, newest first. Terms match parts of
// words and CJK text without spaces: both databases index trigrams of text.
func (s *Store) Search(ctx context.Context, user, conv, query string, limit int) ([]Message, error) {
	terms := strings.Fields(query)
	if len(terms) == 0 {
		return []Message{}, nil
	}
	if len(terms) > MaxSearchTerms {
		return nil, fmt.Errorf("store: search: at most %d words", MaxSearchTerms)
	}
	q, args := s.searchQuery(user, conv, terms)
	return s.messages(ctx, q, append(args, pageSize(limit))...)
}

// searchQuery builds the search for terms (all must match, in any case, as
// any part of a word). On SQLite the FTS5 trigram index finds the terms of
// three characters or more (MATCH with a phrase per term: LIKE with ESCAPE is
// not handed to the index), and the index drives the query; shorter terms,
// like CJK words of two characters, filter with LIKE. On PostgreSQL ILIKE is
// answered from the pg_trgm index.
func (s *Store) searchQuery(user, conv string, terms []string) (string, []any) {
	from := ` FROM messages m`
	args := []any{user}
	var phrases, short []string
	for _, t := range terms {
		if !s.pg && utf8.RuneCountInString(t) >= 3 {
			phrases = append(phrases, `"`+strings.ReplaceAll(t, `"`, `""`)+`"`)
		} else {
			short = append(short, t)
		}
	}
	where := ` WHERE m.kind = 'text' AND m.deleted_at = 0`
	if len(phrases) > 0 {
		from = ` FROM messages_fts f JOIN messages m ON m.id = f.rowid`
		where += ` AND messages_fts MATCH ?`
		args = append(args, strings.Join(phrases, " "))
	}
	q := `SELECT ` + messageColumns + from + `
		JOIN members mb ON mb.conversation_id = m.conversation_id AND mb.user_id = ?` + where
	like := "m.text LIKE"
	if s.pg {
		like = "m.text ILIKE"
	}
	for _, term := range short {
		q += ` AND ` + like + ` ? ESCAPE '\'`
		args = append(args, "%"+likeEscaper.Replace(term)+"%")
	}
	if conv != "" {
		q += ` AND m.conversation_id = ?`
		args = append(args, conv)
	}
	return q + ` ORDER BY m.created_at DESC, m.seq DESC LIMIT ?`, args
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// MessagesBy returns the entries user sent, in all conversations, for an
// export: oldest first, those created at or after since, at most limit.
func (s *Store) MessagesBy(ctx context.Context, user string, since time.Time, limit int) ([]Message, error) {
	return s.messages(ctx,
		`SELECT `+messageColumns+` FROM messages m WHERE m.sender_id = ? AND m.created_at >= ?
		 ORDER BY m.created_at, m.conversation_id, m.seq LIMIT ?`, user, millis(since), pageSize(limit))
}

// DeleteMessagesBefore removes log entries created before cutoff (retention),
// with their reactions, revisions and files, and returns how many went.
// Sequence numbers are never reused: the log simply starts later.
func (s *Store) DeleteMessagesBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	var gone []string
	err := s.inTx(ctx, func(t *tx) error {
		rows, err := t.QueryContext(ctx,
			`SELECT conversation_id, data FROM messages WHERE created_at < ? AND kind = 'text' AND data LIKE '%"attachments"%'`,
			millis(cutoff))
		if err != nil {
			return err
		}
		files := map[string][]string{} // conversation -> file ids
		for rows.Next() {
			var conv, data string
			if err := rows.Scan(&conv, &data); err != nil {
				rows.Close()
				return err
			}
			files[conv] = append(files[conv], attachedFiles(data)...)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		res, err := t.ExecContext(ctx, `DELETE FROM messages WHERE created_at < ?`, millis(cutoff))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		for conv, ids := range files {
			g, err := dropFiles(ctx, t, conv, ids)
			if err != nil {
				return err
			}
			gone = append(gone, g...)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: retention: %w", err)
	}
	s.removeFileContents(gone)
	return n, nil
}

func (s *Store) messages(ctx context.Context, q string, args ...any) ([]Message, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: messages: %w", err)
	}
	defer rows.Close()
	out := []Message{}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("store: messages: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func pageSize(limit int) int {
	if limit <= 0 || limit > MaxPage {
		return MaxPage
	}
	return limit
}
