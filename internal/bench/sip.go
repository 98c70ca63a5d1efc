package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"switchboard/internal/client"
	"switchboard/internal/sip"
	"switchboard/internal/store"
)

// SIPOptions describe a SIP gateway benchmark: Calls concurrent calls
// between pairs of desk phones (Go phones in this process, one SIP socket
// per side, an RTP socket per call leg), set up at SetupRate calls a second,
// each bridged by the server through a two-party G.711 room with PCMU
// flowing both ways every 20 ms for Duration.
type SIPOptions struct {
	Calls     int
	SetupRate int // new calls per second while setting up
	Duration  time.Duration
	Runs      int
	// LoadgenProcs: see ChatOptions.
	LoadgenProcs int

	// Launch starts the server on a prepared data directory with SIP on
	// the given UDP address.
	Launch   func(ctx context.Context, dataDir, sipAddr string) (*Server, error) `json:"-"`
	Progress io.Writer                                                           `json:"-"`
}

// DefaultSIPOptions are the defaults of `switchboard bench sip`.
func DefaultSIPOptions() SIPOptions {
	// The phones' process gets both cores: with one, its senders fall behind
	// their 20 ms ticks at 500 calls (50,000 packets a second).
	return SIPOptions{Calls: 500, SetupRate: 100, Duration: 20 * time.Second, Runs: 1, LoadgenProcs: 0}
}

// Validate checks the options.
func (o *SIPOptions) Validate() error {
	switch {
	case o.Calls < 1 || o.Calls > 5000:
		return errors.New("calls must be between 1 and 5000")
	case o.SetupRate < 1:
		return errors.New("setup rate must be positive")
	case o.Duration < time.Second || o.Runs < 1:
		return errors.New("duration must be at least 1s and runs at least 1")
	case o.LoadgenProcs < 0:
		return errors.New("loadgen procs must be 0 (all CPUs) or more")
	}
	return nil
}

// SIPResult is one run.
type SIPResult struct {
	Calls            int     `json:"calls"`            // calls answered and bridged
	Failed           int     `json:"failed"`           // calls that could not be set up
	SetupsPerSec     float64 `json:"setupsPerSec"`     // answered calls / time from first INVITE to last answer
	SetupP50ms       float64 `json:"setupP50ms"`       // INVITE to answered (ACK sent), through the gateway to the callee and back
	SetupP99ms       float64 `json:"setupP99ms"`       //
	PacketsSent      int64   `json:"packetsSent"`      // RTP packets the phones sent in the window (both directions)
	PacketsReceived  int64   `json:"packetsReceived"`  // of those, received by the other phone
	LossPercent      float64 `json:"lossPercent"`      // 100 * (sent - received) / sent
	P50ms            float64 `json:"p50ms"`            // one-way latency phone to phone through the gateway
	P99ms            float64 `json:"p99ms"`            //
	ServerCPUPercent float64 `json:"serverCPUPercent"` // of one core, in the window
	LoadgenCPU       float64 `json:"loadgenCPUPercent"`
	// The same audio sent straight between the phones (no gateway), measured
	// right after: what the load generator and this machine lose and delay.
	BaselineLossPercent float64 `json:"baselineLossPercent"`
	BaselineP50ms       float64 `json:"baselineP50ms"`
	BaselineP99ms       float64 `json:"baselineP99ms"`
}

func (o *SIPOptions) progressf(format string, a ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", a...)
	}
}

// benchRealm is the SIP domain of the benchmark's accounts.
const benchRealm = "bench.sip"

// RunSIP runs the benchmark o.Runs times.
func RunSIP(ctx context.Context, o SIPOptions) ([]SIPResult, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.LoadgenProcs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(o.LoadgenProcs))
	}
	var out []SIPResult
	for run := 1; run <= o.Runs; run++ {
		r, err := runSIP(ctx, &o, run)
		if err != nil {
			return out, err
		}
		out = append(out, *r)
	}
	return out, nil
}

// benchPassword is every benchmark phone's password.
const benchPassword = "bench phone password"

// prepareSIP creates the callers' and callees' SIP accounts (linked to
// nobody, so that calls between them are phone to phone).
func prepareSIP(ctx context.Context, o *SIPOptions, dir string) error {
	st, err := store.Open(ctx, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	for i := range o.Calls {
		for _, name := range []string{callerName(i), calleeName(i)} {
			acct, err := sip.NewAccount(name, "", "", benchRealm, benchPassword, true)
			if err != nil {
				return err
			}
			if _, err := st.CreateSIPAccount(ctx, acct); err != nil {
				return err
			}
		}
	}
	return nil
}

func callerName(i int) string { return fmt.Sprintf("a%05d", i) }
func calleeName(i int) string { return fmt.Sprintf("b%05d", i) }

// sipCall is one benchmark call: its two legs as the phones see them.
type sipCall struct {
	out, in *client.PhoneCall
}

func runSIP(ctx context.Context, o *SIPOptions, run int) (*SIPResult, error) {
	dir, err := os.MkdirTemp("", "switchboard-bench-sip-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	o.progressf("run %d: preparing %d pairs of SIP accounts", run, o.Calls)
	if err := prepareSIP(ctx, o, dir); err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	sipAddr, err := freeUDPAddr()
	if err != nil {
		return nil, err
	}
	srv, err := o.Launch(ctx, dir, sipAddr)
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	defer srv.Stop()

	lo := netip.MustParseAddr("127.0.0.1")
	callers, err := client.NewPhones(lo, sipAddr, benchRealm)
	if err != nil {
		return nil, err
	}
	defer callers.Close()
	callees, err := client.NewPhones(lo, sipAddr, benchRealm)
	if err != nil {
		return nil, err
	}
	defer callees.Close()

	calls := make([]*sipCall, o.Calls)
	inbound := make(map[string]chan *client.PhoneCall, o.Calls)
	var regWG sync.WaitGroup
	var regErr atomic.Pointer[error]
	phones := make([]*client.Phone, o.Calls)
	sem := make(chan struct{}, 50)
	for i := range o.Calls {
		ch := make(chan *client.PhoneCall, 1)
		inbound[callerName(i)] = ch
		regWG.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			p, err := callers.Register(ctx, callerName(i), benchPassword, time.Hour)
			if err == nil {
				phones[i] = p
				var q *client.Phone
				q, err = callees.Register(ctx, calleeName(i), benchPassword, time.Hour)
				if err == nil {
					q.OnCall(func(c *client.PhoneCall) bool { ch <- c; return true })
				}
			}
			if err != nil {
				regErr.CompareAndSwap(nil, &err)
			}
		})
	}
	regWG.Wait()
	if e := regErr.Load(); e != nil {
		return nil, fmt.Errorf("register: %w", *e)
	}
	o.progressf("registered %d phones; calling at %d calls/s", 2*o.Calls, o.SetupRate)

	var (
		setup  hist
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	start := time.Now()
	var lastAnswer atomic.Int64
	tick := time.NewTicker(time.Second / time.Duration(o.SetupRate))
	for i := range o.Calls {
		<-tick.C
		wg.Go(func() {
			t0 := time.Now()
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			out, err := phones[i].Call(cctx, calleeName(i))
			if err != nil {
				failed.Add(1)
				return
			}
			setup.record(uint64(time.Since(t0).Microseconds()))
			lastAnswer.Store(int64(time.Since(start)))
			var in *client.PhoneCall
			select {
			case in = <-inbound[callerName(i)]:
			case <-cctx.Done():
			}
			if in != nil {
				select {
				case <-in.Answered():
					calls[i] = &sipCall{out: out, in: in}
					return
				case <-in.Done():
				case <-cctx.Done():
				}
			}
			out.Hangup(context.Background())
			failed.Add(1)
		})
		if (i+1)%100 == 0 {
			o.progressf("placed %d/%d calls", i+1, o.Calls)
		}
	}
	tick.Stop()
	wg.Wait()
	var up []*sipCall
	for _, c := range calls {
		if c != nil {
			up = append(up, c)
		}
	}
	res := &SIPResult{Calls: len(up), Failed: int(failed.Load())}
	if d := time.Duration(lastAnswer.Load()); d > 0 {
		res.SetupsPerSec = float64(len(up)) / d.Seconds()
	}
	counts := make([]uint64, histBuckets)
	setup.addTo(counts)
	res.SetupP50ms, res.SetupP99ms = quantile(counts, 0.5)/1000, quantile(counts, 0.99)/1000
	o.progressf("%d calls up (%d failed), %.0f setups/s; audio both ways for %s", len(up), res.Failed, res.SetupsPerSec, o.Duration)
	defer func() {
		for _, c := range up {
			c.out.Hangup(context.Background())
		}
	}()
	if len(up) == 0 {
		return res, errors.New("no call could be set up")
	}

	// The same audio through the gateway, then straight between the phones'
	// sockets: the baseline shows what the load generator itself loses and
	// delays on this machine at this moment.
	var legs, direct []*rtpLeg
	for i, c := range up {
		ssrc := uint32(0x5b000000 + 2*i)
		legs = append(legs, &rtpLeg{conn: c.out.RTP, dst: c.out.Remote, ssrc: ssrc},
			&rtpLeg{conn: c.in.RTP, dst: c.in.Remote, ssrc: ssrc + 1})
		direct = append(direct, &rtpLeg{conn: c.out.RTP, dst: c.in.RTP.LocalAddr().(*net.UDPAddr).AddrPort(), ssrc: ssrc},
			&rtpLeg{conn: c.in.RTP, dst: c.out.RTP.LocalAddr().(*net.UDPAddr).AddrPort(), ssrc: ssrc + 1})
	}
	gw := measureRTP(ctx, legs, o.Duration, srv.PID)
	o.progressf("baseline: the same audio phone to phone without the gateway")
	base := measureRTP(ctx, direct, o.Duration, srv.PID)
	res.PacketsSent, res.PacketsReceived = gw.sent, gw.received
	res.LossPercent, res.P50ms, res.P99ms = gw.loss(), gw.p50, gw.p99
	res.ServerCPUPercent, res.LoadgenCPU = gw.serverCPU, gw.loadgenCPU
	res.BaselineLossPercent, res.BaselineP50ms, res.BaselineP99ms = base.loss(), base.p50, base.p99
	return res, nil
}

// rtpLeg is one phone's side of a call's audio: its socket and where it sends.
type rtpLeg struct {
	conn *net.UDPConn
	dst  netip.AddrPort
	ssrc uint32
	seq  uint16
	ts   uint32
}

// rtpWindow is what measureRTP saw.
type rtpWindow struct {
	sent, received        int64
	p50, p99              float64 // one-way latency, ms
	serverCPU, loadgenCPU float64 // percent of a core
}

func (w rtpWindow) loss() float64 {
	if w.sent == 0 {
		return 0
	}
	return 100 * float64(w.sent-min(w.received, w.sent)) / float64(w.sent)
}

// measureRTP has every leg send a stamped PCMU packet every 20 ms and every
// socket count what arrives (loss by the stamp's counter, latency by its
// time), for a window after a warm-up in which the server learns every
// address.
func measureRTP(ctx context.Context, legs []*rtpLeg, window time.Duration, serverPID int) rtpWindow {
	clk := clock{epoch: time.Now()}
	var (
		counting       atomic.Bool
		received, sent atomic.Int64
		lat            hist
	)
	mctx, stop := context.WithCancel(ctx)
	defer stop()
	var recvWG, sendWG sync.WaitGroup
	for _, l := range legs {
		recvWG.Go(func() { receiveRTP(mctx, l.conn, &counting, &received, &lat, clk) })
	}
	// Senders of 100 legs each: one goroutine for all would fall behind its
	// 20 ms ticks while receivers hold the load generator's CPU.
	for part := range slices.Chunk(legs, 100) {
		sendWG.Go(func() { sendRTP(mctx, part, &counting, &sent, clk) })
	}
	time.Sleep(2 * time.Second)
	cpu0, _ := cpuSeconds(serverPID)
	me0, _ := cpuSeconds(os.Getpid())
	counting.Store(true)
	start := time.Now()
	time.Sleep(window)
	counting.Store(false)
	elapsed := time.Since(start).Seconds()
	cpu1, _ := cpuSeconds(serverPID)
	me1, _ := cpuSeconds(os.Getpid())
	time.Sleep(300 * time.Millisecond) // packets in flight at the end of the window
	stop()
	sendWG.Wait()
	for _, l := range legs {
		l.conn.SetReadDeadline(time.Now())
	}
	recvWG.Wait()
	for _, l := range legs {
		l.conn.SetReadDeadline(time.Time{})
	}
	counts := make([]uint64, histBuckets)
	lat.addTo(counts)
	return rtpWindow{sent: sent.Load(), received: received.Load(),
		p50: quantile(counts, 0.5) / 1000, p99: quantile(counts, 0.99) / 1000,
		serverCPU: 100 * (cpu1 - cpu0) / elapsed, loadgenCPU: 100 * (me1 - me0) / elapsed}
}

// windowCounter marks the packets sent in the window: their stamps'
// counters are odd, the others' even, so receivers count exactly those.
func windowCounter(n uint32, counting bool) uint32 {
	if counting {
		return n<<1 | 1
	}
	return n << 1
}

// sendRTP sends a packet on each leg every 20 ms.
func sendRTP(ctx context.Context, legs []*rtpLeg, counting *atomic.Bool, sent *atomic.Int64, clk clock) {
	tick := time.NewTicker(audioPeriod)
	defer tick.Stop()
	payload := make([]byte, 160)
	buf := make([]byte, 12+len(payload))
	for n := uint32(0); ; n++ {
		on := counting.Load()
		for _, l := range legs {
			h := rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: l.seq, Timestamp: l.ts, SSRC: l.ssrc}
			l.seq++
			l.ts += 160
			hl, err := h.MarshalTo(buf)
			if err != nil {
				continue
			}
			stamp(payload, clk.now(), windowCounter(n, on))
			copy(buf[hl:], payload)
			if _, err := l.conn.WriteToUDPAddrPort(buf[:hl+len(payload)], l.dst); err == nil && on {
				sent.Add(1)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// receiveRTP counts the window's packets arriving on conn.
func receiveRTP(ctx context.Context, conn *net.UDPConn, counting *atomic.Bool, received *atomic.Int64, lat *hist, clk clock) {
	buf := make([]byte, 1500)
	for ctx.Err() == nil {
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		t, counter, ok := readStamp(buf[:n])
		if !ok || counter&1 == 0 {
			continue
		}
		received.Add(1)
		lat.record(uint64(max(clk.now()-t, 0) / 1000))
	}
}

// freeUDPAddr is a loopback UDP address nobody listens on (for the child).
func freeUDPAddr() (string, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.LocalAddr().String(), nil
}

// sipEnv names the SIP address a serve-child opens (bench sip).
const sipEnv = "SWITCHBOARD_BENCH_SIP"

// SIPLauncher starts `exe bench serve-child` with SIP on.
func SIPLauncher(exe string) func(ctx context.Context, dataDir, sipAddr string) (*Server, error) {
	return func(ctx context.Context, dataDir, sipAddr string) (*Server, error) {
		return startChild(ctx, exe, []string{"bench", "serve-child", "--data-dir", dataDir}, []string{sipEnv + "=" + sipAddr}, "", "")
	}
}

// WriteSIPTable prints each run and, for several runs, the medians.
func WriteSIPTable(w io.Writer, o SIPOptions, rs []SIPResult) {
	fmt.Fprintf(w, "SIP gateway: %d calls phone to phone (G.711 pass-through), set up at %d/s, %s of audio both ways, load generator GOMAXPROCS %d\n\n",
		o.Calls, o.SetupRate, o.Duration, o.LoadgenProcs)
	fmt.Fprintf(w, "%-6s %6s %6s %9s %10s %10s %10s %7s %8s %8s %10s %11s | %11s %8s %8s\n", "run", "calls", "failed", "setups/s",
		"setup p50", "setup p99", "RTP pkt/s", "loss %", "p50 ms", "p99 ms", "server CPU", "loadgen CPU", "direct loss", "p50 ms", "p99 ms")
	row := func(name string, r SIPResult) {
		fmt.Fprintf(w, "%-6s %6d %6d %9.0f %8.1fms %8.1fms %10.0f %7.3f %8.2f %8.2f %9.0f%% %10.0f%% | %10.3f%% %8.2f %8.2f\n", name, r.Calls, r.Failed,
			r.SetupsPerSec, r.SetupP50ms, r.SetupP99ms, float64(r.PacketsSent)/o.Duration.Seconds(), r.LossPercent, r.P50ms, r.P99ms,
			r.ServerCPUPercent, r.LoadgenCPU, r.BaselineLossPercent, r.BaselineP50ms, r.BaselineP99ms)
	}
	for i, r := range rs {
		row(strconv.Itoa(i+1), r)
	}
	if len(rs) > 1 {
		med := func(f func(SIPResult) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		row("median", SIPResult{Calls: int(med(func(r SIPResult) float64 { return float64(r.Calls) })),
			Failed:       int(med(func(r SIPResult) float64 { return float64(r.Failed) })),
			SetupsPerSec: med(func(r SIPResult) float64 { return r.SetupsPerSec }),
			SetupP50ms:   med(func(r SIPResult) float64 { return r.SetupP50ms }), SetupP99ms: med(func(r SIPResult) float64 { return r.SetupP99ms }),
			PacketsSent: int64(med(func(r SIPResult) float64 { return float64(r.PacketsSent) })),
			LossPercent: med(func(r SIPResult) float64 { return r.LossPercent }),
			P50ms:       med(func(r SIPResult) float64 { return r.P50ms }), P99ms: med(func(r SIPResult) float64 { return r.P99ms }),
			ServerCPUPercent:    med(func(r SIPResult) float64 { return r.ServerCPUPercent }),
			LoadgenCPU:          med(func(r SIPResult) float64 { return r.LoadgenCPU }),
			BaselineLossPercent: med(func(r SIPResult) float64 { return r.BaselineLossPercent }),
			BaselineP50ms:       med(func(r SIPResult) float64 { return r.BaselineP50ms }),
			BaselineP99ms:       med(func(r SIPResult) float64 { return r.BaselineP99ms })})
	}
}
