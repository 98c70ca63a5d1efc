package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	pprofhttp "net/http/pprof"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"switchboard/internal/app"
	"switchboard/internal/config"
)

// Server is a server under test. Its CPU time is read from /proc/<PID>/stat, so it normally runs
// as a child process of the bench (see ExecLauncher).
type Server struct {
	URL  string
	PID  int
	stop func() error
	// profile starts (true) or stops and writes (false) the child's CPU profile; nil if none.
	profile func(on bool)
}

// Stop ends the server and waits for it.
func (s *Server) Stop() error { return s.stop() }

// Launcher starts a server of a kind ("switchboard" or "baseline"). profile, if not empty, is
// where the server writes a CPU profile of the measurement window.
type Launcher func(ctx context.Context, kind, profile string, env []string) (*Server, error)

// ExecLauncher starts servers as child processes of exe (the switchboard binary) with the hidden
// subcommands `bench serve-child` and `bench baseline-child`. A child prints "READY <url>" on
// stdout once it listens, starts its CPU profile on SIGUSR1 and writes it on SIGUSR2.
func ExecLauncher(exe string) Launcher {
	return func(ctx context.Context, kind, profile string, env []string) (*Server, error) {
		args := []string{"bench", kind + "-child"}
		var dir string
		if kind == "switchboard" {
			var err error
			if dir, err = os.MkdirTemp("", "switchboard-bench-"); err != nil {
				return nil, err
			}
			args = []string{"bench", "serve-child", "--data-dir", dir}
		}
		return startChild(ctx, exe, args, env, profile, dir)
	}
}

// startChild runs exe with args as a server child and waits for its READY line. removeDir, if
// not empty, is deleted when the child stops.
func startChild(ctx context.Context, exe string, args, env []string, profile, removeDir string) (*Server, error) {
	if profile != "" {
		args = append(args, "--cpuprofile", profile)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	cleanup := func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			err = <-done
		}
		if removeDir != "" {
			os.RemoveAll(removeDir)
		}
		return err
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				lines <- u
			}
		}
	}()
	select {
	case u := <-lines:
		s := &Server{URL: u, PID: cmd.Process.Pid, stop: cleanup}
		if profile != "" {
			s.profile = func(on bool) {
				sig := syscall.SIGUSR2
				if on {
					sig = syscall.SIGUSR1
				}
				cmd.Process.Signal(sig)
			}
		}
		return s, nil
	case <-time.After(60 * time.Second):
		cleanup()
		return nil, fmt.Errorf("%s did not start", strings.Join(args[:2], " "))
	case <-ctx.Done():
		cleanup()
		return nil, ctx.Err()
	}
}

// InProcessLauncher runs the servers inside the bench process (for tests: the CPU figures then
// include the load generator).
func InProcessLauncher(dataDir string) Launcher {
	return func(ctx context.Context, kind, _ string, _ []string) (*Server, error) {
		ctx, cancel := context.WithCancel(ctx)
		ready := make(chan string, 1)
		errc := make(chan error, 1)
		go func() {
			if kind == "switchboard" {
				errc <- serveSwitchboard(ctx, dataDir, func(u string) { ready <- u })
			} else {
				errc <- serveBaseline(ctx, func(u string) { ready <- u })
			}
		}()
		select {
		case u := <-ready:
			return &Server{URL: u, PID: os.Getpid(), stop: func() error { cancel(); return <-errc }}, nil
		case err := <-errc:
			cancel()
			return nil, err
		}
	}
}

// batchOffEnv and fastOffEnv are the environment names of --media-batch-writes and --media-fast-path.
const (
	batchOffEnv = "SWITCHBOARD_MEDIA_BATCH_WRITES"
	fastOffEnv  = "SWITCHBOARD_MEDIA_FAST_PATH"
)

// serveSwitchboard runs the real server with loopback-only media and no TURN.
func serveSwitchboard(ctx context.Context, dataDir string, ready func(string)) error {
	cfg := config.Local(dataDir)
	cfg.Media.TCP = ""
	cfg.TURN.Enabled = false
	cfg.LogLevel = "error"
	cfg.Rooms.MaxParticipants = 1000
	// The child builds its configuration directly; the settings the bench varies come in the
	// environment under the names `serve` reads them by.
	for name, dst := range map[string]*bool{batchOffEnv: &cfg.Media.BatchWrites, fastOffEnv: &cfg.Media.FastPath} {
		if v := os.Getenv(name); v != "" {
			on, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%s=%q: %w", name, v, err)
			}
			*dst = on
		}
	}
	// bench sip: SIP on loopback, with the per-source limits that protect a
	// public server opened up, because every benchmark phone comes from
	// 127.0.0.1.
	if addr := os.Getenv(sipEnv); addr != "" {
		s := &cfg.SIP
		s.Enabled, s.UDP, s.TCP, s.TLS, s.Realm = true, addr, "", "", benchRealm
		s.RequestsPerSecond, s.AuthFailuresPerIP, s.AuthFailuresPerUser = 1_000_000, 1_000_000, 1_000_000
		s.MaxCalls = 20_000
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	// A profiling endpoint on request, to see where a benchmark's time and memory go.
	if addr := os.Getenv("SWITCHBOARD_BENCH_PPROF"); addr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprofhttp.Index)
		mux.HandleFunc("/debug/pprof/profile", pprofhttp.Profile)
		go http.ListenAndServe(addr, mux)
	}
	// Errors only: participants leaving at the end of a scenario make warnings.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	a, err := app.New(ctx, cfg, app.Options{LoopbackOnly: true, Logger: log})
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- a.Serve() }()
	ready(a.URL())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return a.Shutdown(sctx)
}

// ServeChild is `switchboard bench serve-child`: the Switchboard server as a bench child process.
func ServeChild(args []string) error {
	fs := flag.NewFlagSet("serve-child", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "data directory")
	profile := fs.String("cpuprofile", "", "CPU profile file (SIGUSR1 starts, SIGUSR2 writes)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dataDir == "" {
		return errors.New("serve-child: --data-dir is required")
	}
	return runChild(*profile, func(ctx context.Context, ready func(string)) error {
		return serveSwitchboard(ctx, *dataDir, ready)
	})
}

// BaselineChild is `switchboard bench baseline-child`: the plain pion forwarder as a child process.
func BaselineChild(args []string) error {
	fs := flag.NewFlagSet("baseline-child", flag.ContinueOnError)
	profile := fs.String("cpuprofile", "", "CPU profile file (SIGUSR1 starts, SIGUSR2 writes)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return runChild(*profile, serveBaseline)
}

func runChild(profile string, serve func(context.Context, func(string)) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP collects garbage and returns free memory to the system, so the
	// bench reads the memory that live state holds (as an idle server's
	// periodic collections would leave it).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			debug.FreeOSMemory()
			fmt.Println("FREED")
		}
	}()
	if profile != "" {
		sigs := make(chan os.Signal, 2)
		signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
		go func() {
			var f *os.File
			for s := range sigs {
				switch {
				case s == syscall.SIGUSR1 && f == nil:
					var err error
					if f, err = os.Create(profile); err == nil {
						if err = pprof.StartCPUProfile(f); err != nil {
							f.Close()
							f = nil
						}
					}
					if err != nil {
						fmt.Fprintln(os.Stderr, "cpu profile:", err)
					}
				case s == syscall.SIGUSR2 && f != nil:
					pprof.StopCPUProfile()
					f.Close()
					f = nil
				}
			}
		}()
	}
	return serve(ctx, func(u string) { fmt.Printf("READY %s\n", u) })
}

// cpuSeconds is the user+system CPU time of a process so far (all its threads).
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; fields after it are fixed.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc stat format")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return float64(ut+st) / clockTicks, nil
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// machineBusy reads /proc/stat: busy and total jiffies of all CPUs.
func machineBusy() (busy, total uint64) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	fields := strings.Fields(line)
	for i, s := range fields[1:] {
		if i >= 8 { // guest time is already counted in user time
			break
		}
		v, _ := strconv.ParseUint(s, 10, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}
