package sip

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// proxy is a record-routing proxy on a UDP socket: it sees the requests
// our dialogs send through it and answers them itself.
type proxy struct {
	t    *testing.T
	conn *net.UDPConn
}

func newProxy(t *testing.T) *proxy { return &proxy{t: t, conn: udpSocket(t)} }

func (px *proxy) addr() string { return px.conn.LocalAddr().String() }

// next reads the next request sent to the socket; nil after timeout.
func (px *proxy) next(timeout time.Duration) (*sip.Request, *net.UDPAddr) {
	px.t.Helper()
	buf := make([]byte, 65536)
	px.conn.SetReadDeadline(time.Now().Add(timeout))
	n, from, err := px.conn.ReadFromUDP(buf)
	if err != nil {
		return nil, nil
	}
	m, err := sip.ParseMessage(buf[:n])
	if err != nil {
		px.t.Fatal(err)
	}
	req, ok := m.(*sip.Request)
	if !ok {
		px.t.Fatalf("want a request, got\n%s", m)
	}
	return req, from
}

// respond answers req (from from) with code; extra headers are added.
func (px *proxy) respond(req *sip.Request, from *net.UDPAddr, code int, reason string, extra ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range extra {
		res.AppendHeader(h)
	}
	px.conn.WriteToUDP([]byte(res.String()), from)
}

// readRequest reads the next request sent to the proxy and answers it
// 200 unless it is an ACK.
func (px *proxy) readRequest(method string) *sip.Request {
	px.t.Helper()
	req, from := px.next(5 * time.Second)
	if req == nil || req.Method != sip.RequestMethod(method) {
		px.t.Fatalf("the proxy wanted %s, got %v", method, req)
	}
	if req.Method != sip.ACK {
		px.respond(req, from, 200, "OK")
	}
	return req
}

// routes are the Route header values of req.
func routes(req *sip.Request) []string {
	var out []string
	for _, h := range req.GetHeaders("Route") {
		out = append(out, h.Value())
	}
	return out
}

// A phone answers through record-routing proxies: our ACK and BYE carry
// the route set (the 2xx's Record-Route reversed) and go to the first
// proxy, not to the phone; a strict router (no ;lr) gets the request with
// its own URI as Request-URI and the phone's Contact as the last Route.
func TestRecordRouteCallOut(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RTPBindAddr = "127.0.0.1:0" })
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	if r := p.register("secret", "", p.contact()); r.StatusCode != 200 {
		t.Fatalf("register: %d", r.StatusCode)
	}
	t.Run("loose", func(t *testing.T) {
		px := newProxy(t)
		near := "<sip:" + px.addr() + ";lr>"
		res := dialAsync(t.Context(), h.s, nil)
		inv := p.readRequest("INVITE")
		p.reply(inv, 200, "OK", answerSDP(40000, 0), sip.NewHeader("Record-Route", "<sip:far.example.net;lr>, "+near))
		ack := px.readRequest("ACK")
		want := near + ",<sip:far.example.net;lr>"
		if got := strings.Join(routes(ack), ","); got != want {
			t.Errorf("ACK Route %q, want %q", got, want)
		}
		if ack.Recipient.Host != "192.0.2.1" {
			t.Errorf("ACK Request-URI %s, want the phone's Contact", ack.Recipient.String())
		}
		r := waitDial(t, res)
		if r.err != nil {
			t.Fatal(r.err)
		}
		r.c.Hangup()
		bye := px.readRequest("BYE")
		if got := strings.Join(routes(bye), ","); got != want {
			t.Errorf("BYE Route %q, want %q", got, want)
		}
		<-r.c.Done()
		p.silence(100 * time.Millisecond) // nothing went around the proxy
	})
	t.Run("strict", func(t *testing.T) {
		px := newProxy(t)
		res := dialAsync(t.Context(), h.s, nil)
		inv := p.readRequest("INVITE")
		p.reply(inv, 200, "OK", answerSDP(40000, 0), sip.NewHeader("Record-Route", "<sip:"+px.addr()+">"))
		ack := px.readRequest("ACK")
		if ack.Recipient.String() != "sip:"+px.addr() {
			t.Errorf("ACK Request-URI %s, want the strict router's", ack.Recipient.String())
		}
		if got := routes(ack); len(got) != 1 || !strings.Contains(got[0], "192.0.2.1") {
			t.Errorf("ACK Route %q, want the phone's Contact", got)
		}
		r := waitDial(t, res)
		if r.err != nil {
			t.Fatal(r.err)
		}
		r.c.Hangup()
		px.readRequest("BYE")
		<-r.c.Done()
	})
}

// A call we answer through record-routing proxies: our 200 repeats the
// Record-Route, and our BYE carries the route set in the same order and
// goes to the first proxy.
func TestRecordRouteCallIn(t *testing.T) {
	px := newProxy(t)
	near := "<sip:" + px.addr() + ";lr>"
	in := answered(t, nil, "Record-Route: "+near+", <sip:far.example.net;lr>")
	if n := len(in.ok.GetHeaders("Record-Route")); n != 2 {
		t.Errorf("our 200 has %d Record-Route, want 2", n)
	}
	in.c.Hangup()
	bye := px.readRequest("BYE")
	if got, want := strings.Join(routes(bye), ","), near+",<sip:far.example.net;lr>"; got != want {
		t.Errorf("BYE Route %q, want %q", got, want)
	}
	<-in.c.Done()
}

// The first hop's transport and port come from its URI: its transport
// parameter, TLS for sips, the transport's default port.
func TestRouteFirstHop(t *testing.T) {
	for _, c := range []struct{ route, transport, wantTransport, wantDest string }{
		{"sip:p.example.net;lr", "UDP", "UDP", "p.example.net:5060"},
		{"sip:p.example.net:5070;lr;transport=tcp", "UDP", "TCP", "p.example.net:5070"},
		{"sips:p.example.net;lr", "TCP", "TLS", "p.example.net:5061"},
	} {
		var u sip.Uri
		if err := sip.ParseUri(c.route, &u); err != nil {
			t.Fatal(err)
		}
		d := &dialog{routes: []sip.Uri{u}, transport: c.transport, dest: "192.0.2.9:5060",
			target: sip.Uri{Scheme: "sip", Host: "192.0.2.1"}}
		req := sip.NewRequest(sip.BYE, d.target)
		d.route(req)
		if req.Transport() != c.wantTransport || req.Destination() != c.wantDest {
			t.Errorf("%s: %s to %s, want %s to %s", c.route, req.Transport(), req.Destination(), c.wantTransport, c.wantDest)
		}
	}
}
