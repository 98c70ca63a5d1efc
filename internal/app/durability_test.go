package app

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"switchboard/internal/account"
	"switchboard/internal/client"
	"switchboard/internal/config"
	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// The server is killed with SIGKILL while people send. After a restart,
// every message the server acknowledged is there, under the sequence number
// it was acknowledged with, and the logs have no gaps.
func TestAcknowledgedMessagesSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir := t.TempDir()
	// Each sender stays under the per-device rate limit (20 messages/s).
	const senders, perSecond = 8, 15
	tokens, conv := prepareDurability(t, dir, senders)

	srv := startKillable(t, dir)
	type acked struct {
		seq  int64
		text string
	}
	var mu sync.Mutex
	acks := map[string]acked{} // txn -> what the server acknowledged
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, tok := range tokens {
		wg.Go(func() {
			m, err := client.DialMessenger(ctx, srv.ws, http.Header{"Authorization": {"Bearer " + tok}}, nil)
			if err != nil {
				t.Errorf("sender %d: %v", i, err)
				return
			}
			tick := time.NewTicker(time.Second / perSecond)
			defer tick.Stop()
			for n := 0; ctx.Err() == nil; n++ {
				<-tick.C
				txn := fmt.Sprintf("s%d-%d", i, n)
				text := fmt.Sprintf("message %d from %d", n, i)
				reply, err := m.Request(ctx, &protocol.Send{Conversation: conv, Txn: txn, Text: text})
				if err != nil {
					return // the server died: unacknowledged sends may or may not be stored
				}
				mu.Lock()
				acks[txn] = acked{reply.(*protocol.Sent).Entry.Seq, text}
				mu.Unlock()
			}
		})
	}
	// Let messages flow, then pull the plug mid-stream.
	for {
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		n := len(acks)
		mu.Unlock()
		if n >= 300 {
			break
		}
	}
	srv.kill()
	cancel()
	wg.Wait()

	// The restarted server has everything it acknowledged.
	srv = startKillable(t, dir)
	defer srv.kill()
	m, err := client.DialMessenger(context.Background(), srv.ws, http.Header{"Authorization": {"Bearer " + tokens[0]}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	stored := map[string]protocol.Entry{}
	last := int64(0)
	for {
		reply, err := m.Request(context.Background(), &protocol.Sync{Conversation: conv, After: last})
		if err != nil {
			t.Fatal(err)
		}
		ev := reply.(*protocol.Events)
		for _, e := range ev.Entries {
			if e.Seq != last+1 {
				t.Fatalf("gap in the log after a crash: %d follows %d", e.Seq, last)
			}
			last = e.Seq
			stored[e.Txn] = e
		}
		if !ev.More {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for txn, a := range acks {
		e, ok := stored[txn]
		if !ok {
			t.Fatalf("acknowledged message %s (seq %d) lost in the crash", txn, a.seq)
		}
		if e.Seq != a.seq || e.Text != a.text {
			t.Fatalf("message %s came back as seq %d %q, acknowledged as %d %q", txn, e.Seq, e.Text, a.seq, a.text)
		}
	}
	t.Logf("%d acknowledged messages all present after kill -9 (%d stored)", len(acks), len(stored))
}

// prepareDurability creates the senders, their tokens and their group.
func prepareDurability(t *testing.T, dir string, n int) (tokens []string, conv string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acc, err := account.New(account.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range n {
		id := fmt.Sprintf("sender%d", i)
		if err := st.CreateUser(ctx, store.User{ID: id, Username: id, DisplayName: id, Role: "member"}); err != nil {
			t.Fatal(err)
		}
		tok, err := acc.CreateToken(ctx, id, "test")
		if err != nil {
			t.Fatal(err)
		}
		tokens, ids = append(tokens, tok), append(ids, id)
	}
	if _, err := st.CreateConversation(ctx, store.Conversation{ID: "crashy", Kind: store.Group, CreatedBy: ids[0]}, ids); err != nil {
		t.Fatal(err)
	}
	return tokens, "crashy"
}

type killable struct {
	cmd *exec.Cmd
	ws  string
}

func (k *killable) kill() {
	k.cmd.Process.Signal(syscall.SIGKILL)
	k.cmd.Wait()
}

// startKillable runs the server in a child process (this test binary, in
// TestDurabilityChild), so that it can be killed without running any of its
// shutdown code.
func startKillable(t *testing.T, dir string) *killable {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDurabilityChild$")
	cmd.Env = append(os.Environ(), "SWITCHBOARD_DURABILITY_CHILD="+dir)
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				urls <- u
			}
		}
	}()
	select {
	case u := <-urls:
		return &killable{cmd: cmd, ws: "ws" + strings.TrimPrefix(u, "http") + "/api/v1/connect"}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("server child did not start")
		return nil
	}
}

// TestDurabilityChild is the server process of TestAcknowledgedMessagesSurviveKill.
func TestDurabilityChild(t *testing.T) {
	dir := os.Getenv("SWITCHBOARD_DURABILITY_CHILD")
	if dir == "" {
		t.Skip("run by TestAcknowledgedMessagesSurviveKill")
	}
	cfg := config.Local(dir)
	cfg.TURN.Enabled = false
	a, err := New(context.Background(), cfg, Options{LoopbackOnly: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("READY %s\n", a.URL())
	a.Serve() // until killed
}
