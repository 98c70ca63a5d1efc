package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"switchboard/internal/config"
)

// TestBehindNATAndFirewall: two browsers in a network namespace behind a real NAT (iptables
// MASQUERADE --random-fully, which maps ports like a symmetric NAT) and a strict firewall that lets
// through only HTTP and the TURN ports. Nothing forces relaying: the web app's defaults must find
// the way, and the only way is the embedded TURN server. Both browsers join through the web UI,
// see and hear each other, and getStats shows relay candidates.
//
//	root namespace (the server, 10.210.N.1) ── veth ── sbnat (NAT + firewall) ── veth ── sbcli (browsers, 192.168.210.2)
//
// It needs root, ip (iproute2) and iptables; it is skipped without them unless CI is set.
func TestBehindNATAndFirewall(t *testing.T) {
	chromiumPath(t)
	n := setupNAT(t)
	turnPort := freePort(t, n.serverIP) // TURN on one port for UDP and TCP, which the firewall opens
	srv := startServerWith(t, func(c *config.Config) {
		c.Listen = n.serverIP + ":0"
		c.Media.UDP = n.serverIP + ":0"
		c.Media.TCP = n.serverIP + ":0"
		c.TURN.UDP = net.JoinHostPort(n.serverIP, strconv.Itoa(turnPort))
		c.TURN.TCP = c.TURN.UDP
		c.PublicIP = n.serverIP
	}, false)
	n.firewall(t, port(t, srv.URL), turnPort)

	var people []*browser
	var link string
	for i, name := range []string{"Nat", "Ned"} {
		b := newBrowserIn(t, name, n.clientNS,
			// Cameras need a secure context; the server speaks plain HTTP on a non-loopback address.
			chromedp.Flag("unsafely-treat-insecure-origin-as-secure", srv.URL))
		if i == 0 {
			link = b.startMeetingFromHome(srv.URL)
			b.joinFromPrejoin()
		} else {
			b.joinViaLink(link)
		}
		people = append(people, b)
	}
	for _, b := range people {
		st := b.waitMediaFrom(mediaTimeout, 30, names(others(people, b)...)...)
		t.Logf("%s receives: %s", b.name, describeStats(st))
	}
	for _, b := range people {
		pairs, err := b.selectedPairs()
		if err != nil {
			t.Fatalf("%s: %v", b.name, err)
		}
		for _, p := range pairs {
			t.Logf("%s %s: %s (%s %s, via %s) → %s %s", b.name, p.PC, p.State, p.Local, p.LocalAddress, p.RelayProtocol, p.Remote, p.RemoteAddress)
			if p.Local != "relay" {
				t.Errorf("%s: the %s connection's selected local candidate is %q (%s); behind this firewall only relay can work", b.name, p.PC, p.Local, p.LocalAddress)
			}
		}
	}
}

// natNet is the namespaces and links of TestBehindNATAndFirewall.
type natNet struct {
	natNS, clientNS string
	serverIP        string
	wanIf, lanIf    string // the NAT's interfaces towards the server and the clients
}

// setupNAT builds the namespaces; they are removed when the test ends.
func setupNAT(t *testing.T) *natNet {
	t.Helper()
	unavailable := func(why string) {
		if os.Getenv("CI") != "" && os.Getenv("E2E_NO_NETNS") == "" {
			t.Fatalf("NAT test: %s (CI is set; set E2E_NO_NETNS=1 where network namespaces are not allowed)", why)
		}
		t.Skipf("NAT test skipped: %s", why)
	}
	if os.Getenv("E2E_NO_NETNS") != "" {
		t.Skip("NAT test skipped: E2E_NO_NETNS is set")
	}
	if os.Geteuid() != 0 {
		unavailable("it needs root for network namespaces and iptables")
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(tool + " is not installed (apt-get install iproute2 iptables)")
		}
	}
	// Unique names, so that parallel runs on one machine do not collide.
	id := os.Getpid() % 200
	n := &natNet{
		natNS:    fmt.Sprintf("sbnat%d", os.Getpid()),
		clientNS: fmt.Sprintf("sbcli%d", os.Getpid()),
		serverIP: fmt.Sprintf("10.210.%d.1", id),
		wanIf:    fmt.Sprintf("sbw%d", os.Getpid()),
		lanIf:    fmt.Sprintf("sbl%d", os.Getpid()),
	}
	srvIf := fmt.Sprintf("sbs%d", os.Getpid())
	cliIf := fmt.Sprintf("sbc%d", os.Getpid())
	natWAN := fmt.Sprintf("10.210.%d.2", id)

	if err := run("ip", "netns", "add", n.natNS); err != nil {
		unavailable(err.Error())
	}
	t.Cleanup(func() {
		run("ip", "netns", "del", n.clientNS)
		run("ip", "netns", "del", n.natNS)
		run("ip", "link", "del", srvIf)
	})
	nat := []string{"ip", "netns", "exec", n.natNS}
	cli := []string{"ip", "netns", "exec", n.clientNS}
	steps := [][]string{
		{"ip", "netns", "add", n.clientNS},
		// server side: root namespace <-> NAT
		{"ip", "link", "add", srvIf, "type", "veth", "peer", "name", n.wanIf},
		{"ip", "link", "set", n.wanIf, "netns", n.natNS},
		{"ip", "addr", "add", n.serverIP + "/24", "dev", srvIf},
		{"ip", "link", "set", srvIf, "up"},
		append(nat, "ip", "addr", "add", natWAN+"/24", "dev", n.wanIf),
		append(nat, "ip", "link", "set", n.wanIf, "up"),
		append(nat, "ip", "link", "set", "lo", "up"),
		// client side: NAT <-> clients
		{"ip", "link", "add", n.lanIf, "type", "veth", "peer", "name", cliIf},
		{"ip", "link", "set", n.lanIf, "netns", n.natNS},
		{"ip", "link", "set", cliIf, "netns", n.clientNS},
		append(nat, "ip", "addr", "add", "192.168.210.1/24", "dev", n.lanIf),
		append(nat, "ip", "link", "set", n.lanIf, "up"),
		append(cli, "ip", "addr", "add", "192.168.210.2/24", "dev", cliIf),
		append(cli, "ip", "link", "set", cliIf, "up"),
		append(cli, "ip", "link", "set", "lo", "up"),
		append(cli, "ip", "route", "add", "default", "via", "192.168.210.1"),
		// the NAT: forward, masquerade with random ports (symmetric-NAT-like)
		append(nat, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"),
		append(nat, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", n.wanIf, "-j", "MASQUERADE", "--random-fully"),
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			unavailable(err.Error())
		}
	}
	return n
}

// firewall lets clients reach only the server's HTTP port and TURN (UDP and TCP on the TURN port);
// replies to those flows come back, everything else from or to the clients is dropped.
func (n *natNet) firewall(t *testing.T, httpPort, turnPort int) {
	t.Helper()
	nat := []string{"ip", "netns", "exec", n.natNS, "iptables"}
	rules := [][]string{
		{"-P", "FORWARD", "DROP"},
		{"-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
		{"-A", "FORWARD", "-i", n.lanIf, "-o", n.wanIf, "-p", "tcp", "-d", n.serverIP, "--dport", strconv.Itoa(httpPort), "-j", "ACCEPT"},
		{"-A", "FORWARD", "-i", n.lanIf, "-o", n.wanIf, "-p", "udp", "-d", n.serverIP, "--dport", strconv.Itoa(turnPort), "-j", "ACCEPT"},
		{"-A", "FORWARD", "-i", n.lanIf, "-o", n.wanIf, "-p", "tcp", "-d", n.serverIP, "--dport", strconv.Itoa(turnPort), "-j", "ACCEPT"},
	}
	for _, r := range rules {
		if err := run(append(nat, r...)...); err != nil {
			t.Fatalf("firewall: %v", err)
		}
	}
}

// freePort finds a port free for both UDP and TCP on ip.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	for range 20 {
		u, err := net.ListenPacket("udp4", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		p := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp4", net.JoinHostPort(ip, strconv.Itoa(p)))
		u.Close()
		if err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

func run(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func port(t *testing.T, url string) int {
	t.Helper()
	i := strings.LastIndexByte(url, ':')
	p, err := strconv.Atoi(strings.TrimRight(url[i+1:], "/"))
	if err != nil {
		t.Fatalf("no port in %s", url)
	}
	return p
}

// newBrowserIn starts a browser inside a network namespace (through `ip netns exec`).
func newBrowserIn(t *testing.T, name, netns string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	ipPath, err := exec.LookPath("ip")
	if err != nil {
		t.Fatal(err)
	}
	return newBrowserWith(t, name, append(extra, chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
		cmd.Args = append([]string{"ip", "netns", "exec", netns}, cmd.Args...)
		cmd.Path = ipPath
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = new(syscall.SysProcAttr)
		}
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL // as chromedp does by default
	}))...)
}
