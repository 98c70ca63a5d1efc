package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"switchboard/internal/account"
	"switchboard/internal/client"
	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// ChatOptions describe a messaging benchmark: Clients signed-in devices on
// real WebSockets, in channels of GroupSize members, while Rate messages per
// second are sent to random channels by random members.
type ChatOptions struct {
	Clients     int
	GroupSize   int
	Rate        int           // messages per second, all senders together
	ConnectRate int           // new connections per second while connecting
	Warmup      time.Duration // sending before the window
	Duration    time.Duration // measurement window
	Runs        int
	// LoadgenProcs is the GOMAXPROCS of the clients' process while it runs
	// (0: Go's default, a P per CPU). One by default: on a 2-core machine,
	// two Go runtimes with a P per CPU each spin and steal against each
	// other, and the clients, which in production run elsewhere, take CPU
	// from the server in bursts (docs/performance.md has both).
	LoadgenProcs int

	// Launch starts the server on a prepared data directory.
	Launch   func(ctx context.Context, dataDir string) (*Server, error) `json:"-"`
	Progress io.Writer                                                  `json:"-"`
}

// DefaultChatOptions are the defaults of `switchboard bench chat`.
func DefaultChatOptions() ChatOptions {
	return ChatOptions{Clients: 10000, GroupSize: 100, Rate: 500, ConnectRate: 1000,
		Warmup: 3 * time.Second, Duration: 15 * time.Second, Runs: 1, LoadgenProcs: 1}
}

// Validate checks the options.
func (o *ChatOptions) Validate() error {
	switch {
	case o.Clients < 2 || o.GroupSize < 2 || o.GroupSize > o.Clients:
		return errors.New("need at least 2 clients and a group size between 2 and the number of clients")
	case o.Rate < 1 || o.ConnectRate < 1:
		return errors.New("rate and connect rate must be positive")
	case o.Duration < time.Second || o.Warmup < 0 || o.Runs < 1:
		return errors.New("duration must be at least 1s, warmup not negative, runs at least 1")
	case o.LoadgenProcs < 0:
		return errors.New("loadgen procs must be 0 (all CPUs) or more")
	}
	return nil
}

// ChatResult is one run.
type ChatResult struct {
	Clients          int     `json:"clients"`
	ConnectSeconds   float64 `json:"connectSeconds"`
	MemPerIdleConnKB float64 `json:"memPerIdleConnKB"` // server RSS growth per connected idle device
	ServerRSSMB      float64 `json:"serverRSSMB"`
	Sent             int64   `json:"sent"`             // messages sent in the window
	Delivered        int64   `json:"delivered"`        // deliveries to devices in the window
	DeliveriesPerSec float64 `json:"deliveriesPerSec"` // Delivered / window
	P50ms            float64 `json:"p50ms"`            // send to receive
	P99ms            float64 `json:"p99ms"`
	Lost             int64   `json:"lost"` // deliveries expected but never seen, after draining
	ServerCPUPercent float64 `json:"serverCpuPercent"`
	Errors           int64   `json:"errors"` // error replies and failed connections
}

func (o *ChatOptions) progressf(format string, a ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", a...)
	}
}

// RunChat runs the benchmark o.Runs times.
func RunChat(ctx context.Context, o ChatOptions) ([]ChatResult, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.LoadgenProcs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(o.LoadgenProcs))
	}
	var out []ChatResult
	for run := 1; run <= o.Runs; run++ {
		r, err := runChat(ctx, &o, run)
		if err != nil {
			return out, err
		}
		out = append(out, *r)
	}
	return out, nil
}

// chatClient is one benchmark device.
type chatClient struct {
	token string
	convs []string // the channels it is in
	m     *client.Messenger
}

// prepare creates the people, their tokens and the channels in a fresh data
// directory, before the server opens it.
func prepare(ctx context.Context, o *ChatOptions, dir string) ([]*chatClient, [][]int, error) {
	st, err := store.Open(ctx, dir)
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	acc, err := account.New(account.Config{Store: st})
	if err != nil {
		return nil, nil, err
	}
	clients := make([]*chatClient, o.Clients)
	for i := range clients {
		id := fmt.Sprintf("bench%06d", i)
		if err := st.CreateUser(ctx, store.User{ID: id, Username: id, DisplayName: "Bench " + strconv.Itoa(i), Role: "member"}); err != nil {
			return nil, nil, err
		}
		tok, err := acc.CreateToken(ctx, id, "bench")
		if err != nil {
			return nil, nil, err
		}
		clients[i] = &chatClient{token: tok}
		if (i+1)%2000 == 0 {
			o.progressf("prepared %d/%d people", i+1, o.Clients)
		}
	}
	var groups [][]int
	for start := 0; start+o.GroupSize <= o.Clients; start += o.GroupSize {
		members := make([]string, 0, o.GroupSize)
		idx := make([]int, 0, o.GroupSize)
		for i := start; i < start+o.GroupSize; i++ {
			members = append(members, fmt.Sprintf("bench%06d", i))
			idx = append(idx, i)
		}
		id := fmt.Sprintf("channel%05d", len(groups))
		if _, err := st.CreateConversation(ctx, store.Conversation{ID: id, Kind: store.Channel, Name: id, CreatedBy: members[0]}, members); err != nil {
			return nil, nil, err
		}
		for _, i := range idx {
			clients[i].convs = append(clients[i].convs, id)
		}
		groups = append(groups, idx)
	}
	return clients, groups, nil
}

func runChat(ctx context.Context, o *ChatOptions, run int) (*ChatResult, error) {
	dir, err := os.MkdirTemp("", "switchboard-bench-chat-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	o.progressf("run %d: preparing %d people in channels of %d", run, o.Clients, o.GroupSize)
	clients, groups, err := prepare(ctx, o, dir)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	srv, err := o.Launch(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	defer srv.Stop()
	time.Sleep(time.Second)
	rssBefore := settledRSS(srv.PID)

	var (
		delivered atomic.Int64
		counting  atomic.Bool
		lat       hist
		errs      atomic.Int64
		received  atomic.Int64 // all deliveries, window or not
	)
	epoch := time.Now()
	// Deliveries are counted from the raw frames: decoding 60,000 JSON
	// messages a second would make the load generator, not the server, the
	// bottleneck on a small machine.
	textEvent := []byte(`"type":"event","entry":{`)
	skip := func(frame []byte) bool {
		if !bytes.Contains(frame, textEvent) {
			return false
		}
		if !bytes.Contains(frame, []byte(`"kind":"text"`)) {
			return true
		}
		received.Add(1)
		if !counting.Load() {
			return true
		}
		i := bytes.Index(frame, []byte(`"text":"bench `))
		if i < 0 {
			return true
		}
		rest := frame[i+len(`"text":"bench `):]
		if j := bytes.IndexByte(rest, '"'); j > 0 {
			if sent, err := strconv.ParseInt(string(rest[:j]), 10, 64); err == nil {
				delivered.Add(1)
				lat.record(uint64(max(time.Since(epoch).Microseconds()-sent, 0)))
			}
		}
		return true
	}
	onEvent := func(m protocol.Message) {
		if _, ok := m.(*protocol.Error); ok {
			errs.Add(1)
		}
	}
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1/connect"
	start := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(o.ConnectRate))
	var wg sync.WaitGroup
	var connected atomic.Int64
	lastReport := time.Now()
	for _, c := range clients {
		<-tick.C
		wg.Go(func() {
			for attempt := 0; attempt < 5; attempt++ {
				dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				m, err := client.DialMessengerWith(dctx, wsURL, client.MessengerOptions{
					Header: http.Header{"Authorization": {"Bearer " + c.token}}, OnEvent: onEvent, Skip: skip})
				cancel()
				if err == nil {
					c.m = m
					connected.Add(1)
					return
				}
				time.Sleep(time.Duration(100*(attempt+1)) * time.Millisecond)
			}
			errs.Add(1)
		})
		if time.Since(lastReport) >= time.Second {
			o.progressf("connected %d/%d", connected.Load(), o.Clients)
			lastReport = time.Now()
		}
	}
	tick.Stop()
	wg.Wait()
	defer func() {
		for _, c := range clients {
			if c.m != nil {
				c.m.Drop()
			}
		}
	}()
	res := &ChatResult{Clients: int(connected.Load()), ConnectSeconds: time.Since(start).Seconds()}
	o.progressf("connected %d/%d in %.1fs", res.Clients, o.Clients, res.ConnectSeconds)
	if res.Clients < o.Clients {
		return nil, fmt.Errorf("only %d of %d clients connected", res.Clients, o.Clients)
	}

	// Idle: let presence settle, then read what the connections cost.
	time.Sleep(3 * time.Second)
	rssIdle := settledRSS(srv.PID)
	res.MemPerIdleConnKB = float64(rssIdle-rssBefore) / float64(o.Clients) / 1024
	o.progressf("idle: server RSS %.0f MB, %.1f KB per connection", float64(rssIdle)/(1<<20), res.MemPerIdleConnKB)

	// Load: Rate messages per second from random members of random channels.
	var sent, posted atomic.Int64 // in the window; in all
	stop := make(chan struct{})
	var senders sync.WaitGroup
	senders.Go(func() {
		interval := time.Second / time.Duration(o.Rate)
		next := time.Now()
		n := 0
		for {
			select {
			case <-stop:
				return
			default:
			}
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			g := groups[rand.IntN(len(groups))]
			c := clients[g[rand.IntN(len(g))]]
			n++
			msg := &protocol.Send{Conversation: c.convs[0], Txn: "b" + strconv.Itoa(n),
				Text: "bench " + strconv.FormatInt(time.Since(epoch).Microseconds(), 10)}
			if counting.Load() {
				sent.Add(1)
			}
			go func() {
				pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				if err := c.m.Post(pctx, msg); err != nil {
					errs.Add(1)
					return
				}
				posted.Add(1)
			}()
		}
	})
	o.progressf("sending %d messages/s to channels of %d (%d deliveries/s expected)", o.Rate, o.GroupSize, o.Rate*o.GroupSize)
	time.Sleep(o.Warmup)
	cpu0, _ := cpuSeconds(srv.PID)
	counting.Store(true)
	windowStart := time.Now()
	for elapsed := time.Duration(0); elapsed < o.Duration; elapsed = time.Since(windowStart) {
		time.Sleep(min(time.Second, o.Duration-elapsed))
		o.progressf("  %4.0fs  %8.0f deliveries/s", time.Since(windowStart).Seconds(), float64(delivered.Load())/time.Since(windowStart).Seconds())
	}
	counting.Store(false)
	window := time.Since(windowStart)
	cpu1, _ := cpuSeconds(srv.PID)
	close(stop)
	senders.Wait()
	// Drain: what was sent in the window arrives late or never.
	time.Sleep(2 * time.Second)
	res.Sent = sent.Load()
	res.Delivered = delivered.Load()
	res.DeliveriesPerSec = float64(res.Delivered) / window.Seconds()
	counts := make([]uint64, histBuckets)
	lat.addTo(counts)
	res.P50ms = quantile(counts, 0.50) / 1000
	res.P99ms = quantile(counts, 0.99) / 1000
	res.ServerCPUPercent = 100 * (cpu1 - cpu0) / window.Seconds()
	rss, _ := rssBytes(srv.PID)
	res.ServerRSSMB = float64(rss) / (1 << 20)
	res.Errors = errs.Load()
	// Every delivery of every message posted (warmup included) should have
	// arrived by now: each goes to all members of its channel, the sender too.
	res.Lost = max(0, int64(o.GroupSize)*posted.Load()-received.Load())
	return res, nil
}

// settledRSS asks the server child to collect garbage and return free memory
// (SIGHUP), then reads its resident memory.
func settledRSS(pid int) int64 {
	syscall.Kill(pid, syscall.SIGHUP)
	time.Sleep(500 * time.Millisecond)
	rss, _ := rssBytes(pid)
	return rss
}

// rssBytes is a process's resident memory, from /proc.
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// ChatLauncher starts `exe bench serve-child` on a prepared data directory.
func ChatLauncher(exe string) func(ctx context.Context, dataDir string) (*Server, error) {
	return func(ctx context.Context, dataDir string) (*Server, error) {
		return startChild(ctx, exe, []string{"bench", "serve-child", "--data-dir", dataDir}, nil, "", "")
	}
}

// WriteChatTable prints each run and, for several runs, the medians.
func WriteChatTable(w io.Writer, o ChatOptions, rs []ChatResult) {
	fmt.Fprintf(w, "messaging: %d clients, channels of %d, %d messages/s offered, %s window, load generator GOMAXPROCS %d\n\n",
		o.Clients, o.GroupSize, o.Rate, o.Duration, o.LoadgenProcs)
	fmt.Fprintf(w, "%-6s %8s %12s %14s %10s %9s %9s %7s %9s %7s\n", "run", "clients", "KB/idle conn", "deliveries/s", "sent", "p50 ms", "p99 ms", "lost", "server CPU", "errors")
	row := func(name string, r ChatResult) {
		fmt.Fprintf(w, "%-6s %8d %12.1f %14.0f %10d %9.1f %9.1f %7d %8.0f%% %7d\n", name, r.Clients, r.MemPerIdleConnKB,
			r.DeliveriesPerSec, r.Sent, r.P50ms, r.P99ms, r.Lost, r.ServerCPUPercent, r.Errors)
	}
	for i, r := range rs {
		row(strconv.Itoa(i+1), r)
	}
	if len(rs) > 1 {
		med := func(f func(ChatResult) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		row("median", ChatResult{Clients: rs[0].Clients, MemPerIdleConnKB: med(func(r ChatResult) float64 { return r.MemPerIdleConnKB }),
			DeliveriesPerSec: med(func(r ChatResult) float64 { return r.DeliveriesPerSec }), Sent: int64(med(func(r ChatResult) float64 { return float64(r.Sent) })),
			P50ms: med(func(r ChatResult) float64 { return r.P50ms }), P99ms: med(func(r ChatResult) float64 { return r.P99ms }),
			Lost: int64(med(func(r ChatResult) float64 { return float64(r.Lost) })), ServerCPUPercent: med(func(r ChatResult) float64 { return r.ServerCPUPercent }),
			Errors: int64(med(func(r ChatResult) float64 { return float64(r.Errors) }))})
	}
}
