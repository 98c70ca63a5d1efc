package store

import (
	"strings"
	"testing"
)

// Search on SQLite is answered from the trigram index, not by reading every
// message: with a few hundred thousand messages that is 3 ms against 300.
// PostgreSQL's planner chooses by table statistics, so only SQLite's plan
// is pinned here.
func TestSearchUsesTheIndex(t *testing.T) {
	s := open(t, t.TempDir())
	for _, tc := range []struct {
		terms    []string
		useIndex bool
	}{
		{[]string{"deploy"}, true},
		{[]string{"deploy", "東京"}, true}, // the long term drives, the short one filters
		{[]string{"東京"}, false},          // shorter than a trigram: no index can help
	} {
		q, args := s.searchQuery("alice", "", tc.terms)
		rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, append(args, 50)...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		got := strings.Join(plan, "; ")
		if uses := strings.HasPrefix(got, "SCAN f VIRTUAL TABLE INDEX 0:M"); uses != tc.useIndex {
			t.Errorf("search %q: plan %q; want the query driven by a trigram index MATCH: %v", tc.terms, got, tc.useIndex)
		}
		if tc.useIndex && strings.Contains(got, "SCAN m") {
			t.Errorf("search %q scans the messages: %q", tc.terms, got)
		}
	}
}

// BenchmarkSearch searches 200,000 messages in 20 conversations for a word
// that 20 of them hold (go test -bench Search ./internal/store/).
func BenchmarkSearch(b *testing.B) {
	s, err := Open(b.Context(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for c := range 20 {
		id := "c" + string(rune('a'+c))
		if _, err := s.CreateConversation(b.Context(), Conversation{ID: id, Kind: Group, CreatedBy: "alice"}, []string{"alice"}); err != nil {
			b.Fatal(err)
		}
	}
	// One statement: messages with made-up words, every 10,000th with "xylophone".
	if _, err := s.w.ExecContext(b.Context(), `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 200000)
		INSERT INTO messages (conversation_id, seq, kind, sender_id, text, created_at)
		SELECT 'c' || char(97 + i % 20), i, 'text', 'alice',
		       'message ' || i || ' about ' || hex(randomblob(6)) || CASE WHEN i % 10000 = 0 THEN ' xylophone' ELSE '' END, i
		FROM n`); err != nil {
		b.Fatal(err)
	}
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			got, err := s.Search(b.Context(), "alice", "", "xylophone", 50)
			if err != nil || len(got) != 20 {
				b.Fatalf("%d results, %v", len(got), err)
			}
		}
	})
	// The baseline: LIKE with ESCAPE on the same table, which SQLite does
	// not hand to the index (how search was first written).
	b.Run("like-baseline", func(b *testing.B) {
		q := `SELECT ` + messageColumns + ` FROM messages m
			JOIN members mb ON mb.conversation_id = m.conversation_id AND mb.user_id = ?
			JOIN messages_fts f ON f.rowid = m.id
			WHERE m.kind = 'text' AND m.deleted_at = 0 AND f.text LIKE ? ESCAPE '\'
			ORDER BY m.created_at DESC, m.seq DESC LIMIT 50`
		for b.Loop() {
			got, err := s.messages(b.Context(), q, "alice", "%xylophone%")
			if err != nil || len(got) != 20 {
				b.Fatalf("%d results, %v", len(got), err)
			}
		}
	})
}
