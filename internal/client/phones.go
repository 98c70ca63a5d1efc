package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	sbsip "switchboard/internal/sip"
)

// Phones is a bank of desk phones on one SIP UDP socket: SIP accounts that
// register with digest authentication, place calls and answer the calls
// they get, each call with an RTP socket of its own offering PCMU. The SIP
// benchmark and tests play many phones with it, where sipp would need a
// process per scenario. Media is left to the user: a call exposes its RTP
// socket and the address the other side answered with.
type Phones struct {
	server string // our SIP server, host:port (UDP)
	realm  string
	ip     netip.Addr // of the SIP and RTP sockets
	ua     *sipgo.UserAgent
	cli    *sipgo.Client
	srv    *sipgo.Server
	uas    *sipgo.DialogServerCache
	uac    *sipgo.DialogClientCache
	conn   net.PacketConn

	mu     sync.Mutex
	phones map[string]*Phone // by username (the Contact user)
}

// Phone is one registered SIP account of a bank.
type Phone struct {
	b                  *Phones
	Username, password string
	onCall             func(*PhoneCall) bool // under b.mu
}

// OnCall sets who decides about each incoming call: return true to answer
// it (200 with PCMU). Without it calls are answered. The call's media can
// be used once answered (see PhoneCall.Answered).
func (p *Phone) OnCall(f func(*PhoneCall) bool) {
	p.b.mu.Lock()
	p.onCall = f
	p.b.mu.Unlock()
}

// PhoneCall is a call a phone placed or got.
type PhoneCall struct {
	RTP    *net.UDPConn   // the phone's RTP socket
	Remote netip.AddrPort // where the other side wants RTP
	From   string         // the caller's user part (incoming calls)

	answered chan struct{}
	done     chan struct{}
	endOnce  sync.Once
	bye      func(ctx context.Context) error
}

// Answered is closed when the call is up (ACKed, for an incoming call).
func (c *PhoneCall) Answered() <-chan struct{} { return c.answered }

// Done is closed when the call has ended (either side).
func (c *PhoneCall) Done() <-chan struct{} { return c.done }

// Hangup sends BYE and ends the call.
func (c *PhoneCall) Hangup(ctx context.Context) error {
	err := c.bye(ctx)
	c.end()
	return err
}

func (c *PhoneCall) end() {
	c.endOnce.Do(func() {
		close(c.done)
		c.RTP.Close()
	})
}

// NewPhones opens a bank's SIP socket on ip (a loopback address in tests)
// for calls with the SIP server at server (host:port, UDP) in realm.
func NewPhones(ip netip.Addr, server, realm string) (*Phones, error) {
	conn, err := net.ListenPacket("udp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.DiscardHandler)
	ua, err := sipgo.NewUA(sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet)))
	if err != nil {
		conn.Close()
		return nil, err
	}
	local := conn.LocalAddr().String()
	cli, err := sipgo.NewClient(ua, sipgo.WithClientConnectionAddr(local), sipgo.WithClientLogger(quiet))
	if err != nil {
		ua.Close()
		conn.Close()
		return nil, err
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		ua.Close()
		conn.Close()
		return nil, err
	}
	host, port, _ := net.SplitHostPort(local)
	p, _ := strconv.Atoi(port)
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: host, Port: p}}
	b := &Phones{server: server, realm: realm, ip: ip, ua: ua, cli: cli, srv: srv, conn: conn,
		uas: sipgo.NewDialogServerCache(cli, contact), uac: sipgo.NewDialogClientCache(cli, contact),
		phones: map[string]*Phone{}}
	srv.OnInvite(b.onInvite)
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { b.uas.ReadAck(req, tx) })
	srv.OnBye(b.onBye)
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	go srv.ServeUDP(conn)
	// Requests go out of the listening socket once sipgo has pooled it.
	for i := 0; ; i++ {
		if c, _ := ua.TransportLayer().GetConnection("udp", local); c != nil {
			break
		}
		if i == 500 {
			b.Close()
			return nil, errors.New("phones: the SIP socket did not start")
		}
		time.Sleep(2 * time.Millisecond)
	}
	return b, nil
}

// Close ends the bank (its calls' sockets stay with their users).
func (b *Phones) Close() error {
	b.ua.Close()
	return b.conn.Close()
}

// Addr is the bank's SIP address.
func (b *Phones) Addr() net.Addr { return b.conn.LocalAddr() }

// Register registers username with password for expires and returns the phone.
func (b *Phones) Register(ctx context.Context, username, password string, expires time.Duration) (*Phone, error) {
	p := &Phone{b: b, Username: username, password: password}
	b.mu.Lock()
	b.phones[username] = p
	b.mu.Unlock()
	host, port, _ := net.SplitHostPort(b.conn.LocalAddr().String())
	pn, _ := strconv.Atoi(port)
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: b.realm})
	req.SetDestination(b.server)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: username, Host: b.realm}})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: username, Host: b.realm}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: username, Host: host, Port: pn}})
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	res, err := b.cli.Do(ctx, req)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) {
		res, err = b.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: username, Password: password})
	}
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", username, err)
	}
	if res.StatusCode != 200 {
		return nil, fmt.Errorf("register %s: %d %s", username, res.StatusCode, res.Reason)
	}
	return p, nil
}

// newCall opens a call's RTP socket.
func (b *Phones) newCall() (*PhoneCall, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(b.ip, 0)))
	if err != nil {
		return nil, err
	}
	return &PhoneCall{RTP: c, answered: make(chan struct{}), done: make(chan struct{})}, nil
}

// offer is our SDP: PCMU and telephone-event at the call's RTP socket.
func (c *PhoneCall) offer() []byte {
	return sbsip.SessionSDP(c.RTP.LocalAddr().(*net.UDPAddr).AddrPort(), uint64(time.Now().UnixNano()>>2), 1,
		[]sbsip.Codec{sbsip.PCMU}, 101, sbsip.SendRecv)
}

// Call calls target (an extension, a user name or a number) and returns
// once it is answered (or refused: a *DialError-like error with the status).
func (p *Phone) Call(ctx context.Context, target string) (*PhoneCall, error) {
	b := p.b
	call, err := b.newCall()
	if err != nil {
		return nil, err
	}
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: target, Host: b.realm})
	req.SetDestination(b.server)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: p.Username, Host: b.realm}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: target, Host: b.realm}})
	host, port, _ := net.SplitHostPort(b.conn.LocalAddr().String())
	pn, _ := strconv.Atoi(port)
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.Username, Host: host, Port: pn}})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(call.offer())
	sess, err := b.uac.WriteInvite(ctx, req)
	if err != nil {
		call.end()
		return nil, err
	}
	if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{Username: p.Username, Password: p.password}); err != nil {
		call.end()
		sess.Close()
		var dr *sipgo.ErrDialogResponse
		if errors.As(err, &dr) {
			return nil, &CallRefused{Status: dr.Res.StatusCode, Reason: dr.Res.Reason}
		}
		return nil, err
	}
	md, err := sbsip.ParseSDP(sess.InviteResponse.Body())
	if err != nil {
		sess.Ack(ctx)
		sess.Bye(ctx)
		call.end()
		return nil, err
	}
	call.Remote = md.Addr
	call.bye = func(ctx context.Context) error { return sess.Bye(ctx) }
	if err := sess.Ack(ctx); err != nil {
		call.end()
		return nil, err
	}
	close(call.answered)
	go func() {
		<-sess.Context().Done()
		sess.Close()
		call.end()
	}()
	return call, nil
}

// CallRefused is a final non-2xx answer to a phone's call.
type CallRefused struct {
	Status int
	Reason string
}

func (e *CallRefused) Error() string { return fmt.Sprintf("call refused: %d %s", e.Status, e.Reason) }

func (b *Phones) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	b.mu.Lock()
	p := b.phones[req.Recipient.User]
	var decide func(*PhoneCall) bool
	if p != nil {
		decide = p.onCall
	}
	b.mu.Unlock()
	if p == nil {
		tx.Respond(sip.NewResponseFromRequest(req, 404, "Not Found", nil))
		return
	}
	md, err := sbsip.ParseSDP(req.Body())
	if err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
		return
	}
	sess, err := b.uas.ReadInvite(req, tx)
	if err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 500, "Server Internal Error", nil))
		return
	}
	call, err := b.newCall()
	if err != nil {
		sess.Respond(500, "Server Internal Error", nil)
		sess.Close()
		return
	}
	call.Remote = md.Addr
	call.From = req.From().Address.User
	call.bye = func(ctx context.Context) error { return sess.Bye(ctx) }
	if decide != nil && !decide(call) {
		sess.Respond(486, "Busy Here", nil)
		sess.Close()
		call.end()
		return
	}
	// RespondSDP returns once the ACK has come.
	if err := sess.RespondSDP(call.offer()); err != nil {
		sess.Close()
		call.end()
		return
	}
	close(call.answered)
	go func() {
		<-sess.Context().Done()
		sess.Close()
		call.end()
	}()
}

func (b *Phones) onBye(req *sip.Request, tx sip.ServerTransaction) {
	if err := b.uas.ReadBye(req, tx); err == nil {
		return
	}
	if err := b.uac.ReadBye(req, tx); err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
	}
}
