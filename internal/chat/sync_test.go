package chat

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// Many people send into one conversation while their connections keep
// dropping. Each ends with every message exactly once, in the same order as
// the server's log: the guarantee "history that never loses a message".
func TestSyncWhileConnectionsDrop(t *testing.T) {
	for _, pg := range []bool{false, true} {
		name := "sqlite"
		if pg {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) { testSyncWhileConnectionsDrop(t, pg) })
	}
}

func testSyncWhileConnectionsDrop(t *testing.T, pg bool) {
	h := newHarness(t, options{postgres: pg})
	const people, each = 6, 50
	var users []store.User
	for i := range people {
		users = append(users, h.user(fmt.Sprintf("p%d", i), "member"))
	}
	owner := h.connect(users[0])
	ids := []string{}
	for _, u := range users[1:] {
		ids = append(ids, u.ID)
	}
	conv := owner.req(t, &protocol.CreateConversation{Kind: "group", Name: "busy", Members: ids}).(*protocol.ConversationMsg).Conversation.ID
	owner.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	syncers := make([]*syncer, people)
	for i, u := range users {
		syncers[i] = &syncer{h: h, user: u, conv: conv, events: make(chan protocol.Entry, 100000)}
	}
	stopDrops := make(chan struct{})
	var drops sync.WaitGroup
	drops.Go(func() {
		for {
			select {
			case <-stopDrops:
				return
			case <-time.After(time.Duration(2+rand.IntN(8)) * time.Millisecond):
				syncers[rand.IntN(people)].drop()
			}
		}
	})
	var wg sync.WaitGroup
	errs := make(chan error, people)
	for _, s := range syncers {
		wg.Go(func() {
			if err := s.sendAll(ctx, each); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(stopDrops)
	drops.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	c, err := h.st.Conversation(ctx, conv)
	if err != nil {
		t.Fatal(err)
	}
	want, err := h.st.Events(ctx, conv, 0, store.MaxPage)
	if err != nil || int64(len(want)) != c.LastSeq {
		t.Fatalf("server log: %d entries, last seq %d, %v", len(want), c.LastSeq, err)
	}
	seen := map[string]bool{}
	texts := 0
	for _, m := range want {
		if m.Kind != store.KindText {
			continue
		}
		texts++
		key := m.SenderID + "/" + m.TxnID
		if seen[key] {
			t.Fatalf("message %s stored twice", key)
		}
		seen[key] = true
	}
	if texts != people*each {
		t.Fatalf("%d messages stored, want %d", texts, people*each)
	}
	reconnects := 0
	for _, s := range syncers {
		reconnects += s.dials - 1
	}
	t.Logf("%d messages, %d reconnects", people*each, reconnects)
	// The test proves something only if connections really dropped mid-way.
	if reconnects < 2*people {
		t.Fatalf("only %d reconnects: the drops did not interleave with the sending", reconnects)
	}
	for _, s := range syncers {
		if err := s.catchUpTo(ctx, c.LastSeq); err != nil {
			t.Fatalf("%s: %v", s.user.Username, err)
		}
		if len(s.log) != len(want) {
			t.Fatalf("%s has %d entries, the server %d", s.user.Username, len(s.log), len(want))
		}
		for i, e := range s.log {
			if e.Seq != want[i].Seq || e.Text != want[i].Text || e.Sender != want[i].SenderID {
				t.Fatalf("%s entry %d is %d %q, the server's %d %q", s.user.Username, i, e.Seq, e.Text, want[i].Seq, want[i].Text)
			}
		}
	}
}

// syncer is a client that keeps its copy of one conversation's log, as the
// SDK does: apply live entries in order, and on a gap or a reconnect ask
// for everything after the last entry it has.
type syncer struct {
	h      *harness
	user   store.User
	conv   string
	events chan protocol.Entry

	mu    sync.Mutex
	m     *client.Messenger
	dials int

	log  []protocol.Entry // owned by the sending goroutine
	last int64
}

func (s *syncer) drop() {
	s.mu.Lock()
	m := s.m
	s.mu.Unlock()
	if m != nil {
		m.Drop()
	}
}

// conn returns a live connection, dialling and catching up as needed.
func (s *syncer) conn(ctx context.Context) (*client.Messenger, error) {
	s.mu.Lock()
	m := s.m
	s.mu.Unlock()
	if m != nil {
		select {
		case <-m.Done():
		default:
			return m, nil
		}
	}
	for {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		m, err := s.h.dial(s.user, func(msg protocol.Message) {
			if ev, ok := msg.(*protocol.EventMsg); ok && ev.Entry.Conversation == s.conv {
				s.events <- ev.Entry
			}
		})
		if err != nil {
			continue
		}
		s.mu.Lock()
		s.m = m
		s.dials++
		s.mu.Unlock()
		if err := s.catchUp(ctx, m); err != nil {
			continue // dropped again while catching up
		}
		return m, nil
	}
}

func (s *syncer) catchUp(ctx context.Context, m *client.Messenger) error {
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		reply, err := m.Request(rctx, &protocol.Sync{Conversation: s.conv, After: s.last, Limit: 50})
		cancel()
		if err != nil {
			return err
		}
		ev := reply.(*protocol.Events)
		s.apply(ev.Entries)
		if !ev.More {
			return nil
		}
	}
}

// apply appends entries that continue the log and reports a gap.
func (s *syncer) apply(es []protocol.Entry) (gap bool) {
	for _, e := range es {
		switch {
		case e.Seq == s.last+1:
			s.log = append(s.log, e)
			s.last = e.Seq
		case e.Seq > s.last+1:
			gap = true
		}
	}
	return gap
}

// drain applies the live entries received so far, catching up on a gap.
func (s *syncer) drain(ctx context.Context, m *client.Messenger) error {
	for {
		select {
		case e := <-s.events:
			if s.apply([]protocol.Entry{e}) {
				if err := s.catchUp(ctx, m); err != nil {
					return err
				}
			}
		default:
			return nil
		}
	}
}

func (s *syncer) sendAll(ctx context.Context, n int) error {
	for i := 0; i < n; {
		m, err := s.conn(ctx)
		if err != nil {
			return err
		}
		if err := s.drain(ctx, m); err != nil {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = m.Request(rctx, &protocol.Send{Conversation: s.conv, Txn: fmt.Sprint("txn-", i), Text: fmt.Sprintf("%s #%d", s.user.Username, i)})
		cancel()
		if err != nil {
			continue // not acknowledged: send again, with the same txn
		}
		i++
	}
	return nil
}

func (s *syncer) catchUpTo(ctx context.Context, last int64) error {
	for s.last < last {
		m, err := s.conn(ctx)
		if err != nil {
			return err
		}
		if err := s.drain(ctx, m); err != nil {
			continue
		}
		if err := s.catchUp(ctx, m); err != nil {
			continue
		}
	}
	return nil
}
