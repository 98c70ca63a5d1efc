package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	sfubench "switchboard/internal/bench"
)

const benchUsage = `Usage: switchboard bench sfu [options]

Measures the SFU: synthetic WebRTC publishers and subscribers (pion, in this process) on loopback
against a Switchboard server started as a child process, and the same load against a plain pion
forwarder (the classic "broadcast" pattern) as the baseline. For every scenario it reports forwarded
packets per second (counted at the subscribers, and the server's own counter), loss, one-way
latency, join latency (socket open to first RTP), and the server's CPU time from /proc: CPU per
forwarded packet and forwarded packets per second per core. Progress goes to stderr, the table (or
JSON) to stdout. Linux only.

Scenarios:
  broadcast  one publisher (video + audio) to --subscribers subscribers
  rooms      --rooms rooms of --room-size participants; everyone publishes video + audio and
             receives everyone else
  audio      one room of --audio-participants participants, audio only, everyone hears everyone

Options:
`

func bench(args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "sfu":
			return benchSFU(args[1:])
		case "chat":
			return benchChat(args[1:])
		case "sip":
			return benchSIP(args[1:])
		case "serve-child": // hidden: the server under test, started by bench sfu
			return sfubench.ServeChild(args[1:])
		case "baseline-child": // hidden: the plain pion forwarder, started by bench sfu
			return sfubench.BaselineChild(args[1:])
		}
	}
	fmt.Fprint(os.Stderr, "Usage: switchboard bench sfu|chat|sip [options]   (see: switchboard bench sfu --help)\n")
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		return flag.ErrHelp
	}
	return errors.New("bench: unknown or missing benchmark (have: sfu, chat, sip)")
}

func benchSFU(args []string) error {
	o := sfubench.DefaultOptions()
	fs := flag.NewFlagSet("bench sfu", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	scenarios := fs.String("scenario", strings.Join(o.Scenarios, ","), "comma-separated `scenarios` to run: broadcast, rooms, audio")
	targets := fs.String("servers", strings.Join(o.Targets, ","), "comma-separated `servers` to measure: switchboard, switchboard-nobatch (batched media writes off), switchboard-nofast (the SRTP fast path off), baseline")
	fs.IntVar(&o.Subscribers, "subscribers", o.Subscribers, "broadcast: subscribers of the one publisher")
	fs.IntVar(&o.Rooms, "rooms", o.Rooms, "rooms: number of rooms")
	fs.IntVar(&o.RoomSize, "room-size", o.RoomSize, "rooms: participants per room")
	fs.IntVar(&o.AudioParticipants, "audio-participants", o.AudioParticipants, "audio: participants in the audio-only room")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "measurement window of each scenario")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "time between everyone receiving media and the window")
	fs.IntVar(&o.Runs, "runs", o.Runs, "repeat everything this many times and report medians")
	fs.IntVar(&o.VideoFPS, "video-fps", o.VideoFPS, "video frames per second")
	fs.IntVar(&o.PacketsPerFrame, "packets-per-frame", o.PacketsPerFrame, "video packets per frame (sent back to back)")
	fs.IntVar(&o.VideoPayload, "payload", o.VideoPayload, "video RTP payload `bytes` per packet")
	fs.IntVar(&o.AudioPayload, "audio-payload", o.AudioPayload, "audio RTP payload `bytes` per packet (50 packets/s)")
	fs.IntVar(&o.KeyframeSeconds, "keyframe-seconds", o.KeyframeSeconds, "seconds between periodic video keyframes")
	fs.StringVar(&o.ProfileDir, "cpuprofile", "", "write a CPU profile of each server's measurement window into this `directory`")
	fs.Func("server-env", "extra `KEY=VALUE` in the environment of the server children (repeatable), e.g. GOMAXPROCS=1", func(v string) error {
		if !strings.Contains(v, "=") {
			return errors.New("want KEY=VALUE")
		}
		o.ServerEnv = append(o.ServerEnv, v)
		return nil
	})
	jsonOut := fs.Bool("json", false, "print the results as JSON instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.Scenarios = splitList(*scenarios)
	o.Targets = splitList(*targets)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	o.Launch = sfubench.ExecLauncher(exe)
	o.Progress = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := sfubench.Run(ctx, o)
	if err != nil && rep == nil {
		return err
	}
	if *jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(rep); jerr != nil {
			return jerr
		}
	} else {
		rep.WriteTable(os.Stdout)
	}
	return err
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

const benchChatUsage = `Usage: switchboard bench chat [options]

Measures messaging: --clients signed-in devices (Go clients in this process, one WebSocket each)
against a Switchboard server started as a child process on a fresh data directory (SQLite), with
everyone in channels of --group-size members. It reports the server's memory per idle connection
(growth of its resident memory from /proc), then sends --rate messages per second from random
members to random channels and reports deliveries per second, send-to-receive latency (p50, p99),
deliveries lost, and the server's CPU. Progress goes to stderr, the table (or JSON) to stdout.
Needs about 2 file descriptors per client (ulimit -n). Linux only.

Options:
`

func benchChat(args []string) error {
	o := sfubench.DefaultChatOptions()
	fs := flag.NewFlagSet("bench chat", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchChatUsage)
		fs.PrintDefaults()
	}
	fs.IntVar(&o.Clients, "clients", o.Clients, "connected devices (one person each)")
	fs.IntVar(&o.GroupSize, "group-size", o.GroupSize, "members per channel")
	fs.IntVar(&o.Rate, "rate", o.Rate, "messages per second, all senders together")
	fs.IntVar(&o.ConnectRate, "connect-rate", o.ConnectRate, "new connections per second while connecting")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "sending before the measurement window")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "measurement window")
	fs.IntVar(&o.Runs, "runs", o.Runs, "repeat this many times and report medians")
	fs.IntVar(&o.LoadgenProcs, "loadgen-procs", o.LoadgenProcs, "GOMAXPROCS of the load generator (the clients), 0 for Go's default (a P per CPU); the server child always has Go's default")
	jsonOut := fs.Bool("json", false, "print the results as JSON instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return runBench(*jsonOut, func(ctx context.Context, exe string) ([]sfubench.ChatResult, error) {
		o.Launch = sfubench.ChatLauncher(exe)
		o.Progress = os.Stderr
		return sfubench.RunChat(ctx, o)
	}, func(rs []sfubench.ChatResult) { sfubench.WriteChatTable(os.Stdout, o, rs) })
}

// runBench runs a benchmark that starts the server from this binary, with a context that Ctrl-C
// ends, and prints what it measured (even after an error) as JSON or as a table.
func runBench[R any](jsonOut bool, run func(ctx context.Context, exe string) ([]R, error), table func([]R)) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := run(ctx, exe)
	if len(results) == 0 {
		return err
	}
	if jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(results); jerr != nil {
			return jerr
		}
		return err
	}
	table(results)
	return err
}

const benchSIPUsage = `Usage: switchboard bench sip [options]

Measures the SIP gateway: --calls calls between pairs of desk phones (Go SIP phones in this
process, registered with digest authentication) through a Switchboard server started as a child
process with SIP on loopback. Calls are set up at --setup-rate a second; each is bridged by the
server through a two-party G.711 room (audio passed through, as for a phone and a browser), with
PCMU flowing both ways every 20 ms for --duration. It reports call setups per second and setup time
(INVITE to answer, through the gateway to the callee and back), RTP loss and one-way latency phone
to phone, and the server's CPU. Progress goes to stderr, the table (or JSON) to stdout. Linux only;
needs about 2 file descriptors per call leg (ulimit -n).

Options:
`

func benchSIP(args []string) error {
	o := sfubench.DefaultSIPOptions()
	fs := flag.NewFlagSet("bench sip", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchSIPUsage)
		fs.PrintDefaults()
	}
	fs.IntVar(&o.Calls, "calls", o.Calls, "concurrent calls (each two legs: the caller's and the callee's)")
	fs.IntVar(&o.SetupRate, "setup-rate", o.SetupRate, "new calls per second while setting up")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "measurement window with audio flowing")
	fs.IntVar(&o.Runs, "runs", o.Runs, "repeat this many times and report medians")
	fs.IntVar(&o.LoadgenProcs, "loadgen-procs", o.LoadgenProcs, "GOMAXPROCS of the load generator (the phones), 0 for Go's default; the server child always has Go's default")
	jsonOut := fs.Bool("json", false, "print the results as JSON instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return runBench(*jsonOut, func(ctx context.Context, exe string) ([]sfubench.SIPResult, error) {
		o.Launch = sfubench.SIPLauncher(exe)
		o.Progress = os.Stderr
		return sfubench.RunSIP(ctx, o)
	}, func(rs []sfubench.SIPResult) { sfubench.WriteSIPTable(os.Stdout, o, rs) })
}
