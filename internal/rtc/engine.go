// Package rtc sets pion up for the SFU: codecs and header extensions, interceptors, and one UDP socket
// (plus one TCP listener) shared by every peer connection through ICE muxing. It knows nothing of rooms.
package rtc

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Config says where media flows and which addresses to advertise.
type Config struct {
	UDPAddr   string   // one UDP socket for all media, e.g. ":7882"
	TCPAddr   string   // ICE-TCP listener; "" disables it
	PublicIPs []string // advertised instead of the interface addresses (1:1 NAT), may be empty
	// Loopback includes 127.0.0.1 candidates: needed when browsers run on the same machine (tests,
	// a laptop). Non-loopback interfaces are used as well unless OnlyLoopback is set.
	Loopback     bool
	OnlyLoopback bool
	// BatchWrites sends media with sendmmsg in batches (Linux; see batch_linux.go).
	BatchWrites bool
	// FastPath encrypts and decrypts RTP on the media socket itself once pion's DTLS handshake is
	// done (see fast.go and Engine.Fast).
	FastPath bool
	Logger   *slog.Logger
}

// Engine owns the media sockets and the two pion APIs: Publish for connections where clients send
// media to us, Subscribe for connections where we send media to clients. They differ in feedback:
// publishers get transport-cc (so browsers adapt their simulcast encodings), subscribers send REMB,
// which the SFU uses to choose layers without running its own congestion controller per subscriber.
type Engine struct {
	Publish   *webrtc.API
	Subscribe *webrtc.API

	udpConn *net.UDPConn
	media   net.PacketConn // udpConn, or its batching wrapper
	fast    *fastConn      // the media socket as the ICE mux sees it with the fast path; nil without
	tcpLn   net.Listener
	udpMux  ice.UDPMux
	tcpMux  ice.TCPMux
	cfg     Config
}

// New opens the media sockets and builds the APIs.
func New(cfg Config) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	e := &Engine{cfg: cfg}
	uaddr, err := net.ResolveUDPAddr("udp", cfg.UDPAddr)
	if err != nil {
		return nil, fmt.Errorf("media udp address %q: %w", cfg.UDPAddr, err)
	}
	if e.udpConn, err = net.ListenUDP("udp", uaddr); err != nil {
		return nil, fmt.Errorf("media udp: %w", err)
	}
	// Media bursts (a keyframe to many subscribers) overflow the default socket buffers.
	_ = e.udpConn.SetReadBuffer(4 << 20)
	_ = e.udpConn.SetWriteBuffer(4 << 20)

	logs := newLoggerFactory(cfg.Logger)
	e.media = mediaConn(e.udpConn, cfg.BatchWrites)
	muxConn := e.media
	if cfg.FastPath {
		e.fast = newFastConn(e.media, cfg.Logger)
		muxConn = e.fast
	}
	e.udpMux = webrtc.NewICEUDPMux(logs.NewLogger("ice-udp"), muxConn)
	if cfg.TCPAddr != "" {
		if e.tcpLn, err = net.Listen("tcp", cfg.TCPAddr); err != nil {
			e.udpMux.Close()
			return nil, fmt.Errorf("media tcp: %w", err)
		}
		e.tcpMux = webrtc.NewICETCPMux(logs.NewLogger("ice-tcp"), tcpDeadlineListener{e.tcpLn}, 64)
	}

	se := e.settingEngine(logs)
	if e.Publish, err = newAPI(se, true, cfg.FastPath); err != nil {
		e.Close()
		return nil, err
	}
	if e.Subscribe, err = newAPI(se, false, cfg.FastPath); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *Engine) settingEngine(logs *loggerFactory) webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.LoggerFactory = logs
	se.SetICEUDPMux(e.udpMux)
	types := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if e.tcpMux != nil {
		se.SetICETCPMux(e.tcpMux)
		types = append(types, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(types)
	if len(e.cfg.PublicIPs) > 0 {
		se.SetNAT1To1IPs(e.cfg.PublicIPs, webrtc.ICECandidateTypeHost)
	}
	se.SetIncludeLoopbackCandidate(e.cfg.Loopback || e.cfg.OnlyLoopback)
	if e.cfg.OnlyLoopback {
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	// Docker and VPN bridges produce candidates no client can reach; they only slow ICE down.
	se.SetInterfaceFilter(func(name string) bool { return !isVirtualInterface(name) })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetICETimeouts(5*time.Second, 20*time.Second, 2*time.Second)
	// On subscribe connections we are the controlling ICE agent, and we usually learn a browser's
	// address from its own connectivity checks (peer-reflexive: browsers hide host addresses behind
	// mDNS names, which we do not resolve, and trickled candidates wait for a page's busy main
	// thread). pion waits 1 s before nominating a peer-reflexive pair (500 ms for server-reflexive)
	// in case a better pair turns up; that second was most of a joiner's wait for the first remote
	// frame. Nominate the best pair that works as soon as one does. Publish connections are not
	// affected: there the browser offers, so it is the controlling agent and nominates. (Making the
	// subscribe side ICE lite, so that the browser nominates, was tried on 2026-12-07 and was not
	// faster: docs/performance.md.)
	se.SetPrflxAcceptanceMinWait(0)
	se.SetSrflxAcceptanceMinWait(0)
	// AES-GCM first: cheaper per packet than AES-CM with HMAC-SHA1, and browsers support it.
	se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	se.SetReceiveMTU(1500)
	if e.fast != nil {
		// pion/dtls writes each handshake's master secret here; the fast path derives SRTP keys
		// from it and forgets it (dtlskeys.go). It is never logged or stored.
		se.SetDTLSKeyLogWriter(e.fast.keys)
	}
	return se
}

// Codecs offered on both sides. Payload types are fixed and identical for publish and subscribe, so a
// forwarded packet keeps its payload type unless a browser negotiated another.
var videoFeedback = []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}

func codecs() []webrtc.RTPCodecParameters {
	video := func(mime string, pt webrtc.PayloadType, fmtp string) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: mime, ClockRate: 90000, SDPFmtpLine: fmtp, RTCPFeedback: videoFeedback}, PayloadType: pt}
	}
	// RTX (RFC 4588) lets retransmissions travel on their own SSRC, so a receiver's replay protection
	// never mistakes one for a duplicate.
	rtx := func(pt, apt webrtc.PayloadType) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", apt)}, PayloadType: pt}
	}
	return []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1;usedtx=1"}, PayloadType: 111},
		// G.711 after Opus: browsers offer Opus first and keep using it; calls with telephones
		// choose G.711 (room.Settings.AudioCodec) and pass it through without transcoding.
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}, PayloadType: 0},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000, Channels: 1}, PayloadType: 8},
		// G.722 (wideband) for trunk calls whose provider takes it; its RTP clock is 8000 (RFC 3551).
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeG722, ClockRate: 8000, Channels: 1}, PayloadType: 9},
		TelephoneEvent(),
		video(webrtc.MimeTypeVP8, 96, ""), rtx(97, 96),
		video(webrtc.MimeTypeVP9, 98, "profile-id=0"), rtx(99, 98),
		video(webrtc.MimeTypeH264, 102, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"), rtx(103, 102),
		video(webrtc.MimeTypeAV1, 45, ""), rtx(46, 45),
	}
}

// TelephoneEvent is RFC 4733 telephone-event at G.711's clock: keypad
// tones in calls with telephones, passed through between a phone and the
// browsers (rooms with a G.711 AudioCodec negotiate it next to the codec).
func TelephoneEvent() webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: "audio/telephone-event", ClockRate: 8000, Channels: 1, SDPFmtpLine: "0-15"}, PayloadType: 101}
}

// AudioCodec returns the registered audio codec with mime type mime (e.g. audio/PCMU).
func AudioCodec(mime string) (webrtc.RTPCodecParameters, bool) {
	for _, c := range codecs() {
		if strings.EqualFold(c.MimeType, mime) && strings.HasPrefix(c.MimeType, "audio/") {
			return c, true
		}
	}
	return webrtc.RTPCodecParameters{}, false
}

// newAPI builds the publish or subscribe API. With the fast path (fast), publish connections get no
// interceptors: most incoming packets never pass through pion, so the receive-side RTCP comes from
// a Feedback per connection (feedback.go) that both paths feed.
func newAPI(se webrtc.SettingEngine, publish, fast bool) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	for _, c := range codecs() {
		kind := webrtc.RTPCodecTypeVideo
		if strings.HasPrefix(c.MimeType, "audio/") {
			kind = webrtc.RTPCodecTypeAudio
		}
		if c.MimeType == webrtc.MimeTypeRTX {
			c.RTCPFeedback = nil
		} else if publish && kind == webrtc.RTPCodecTypeVideo {
			c.RTCPFeedback = append(c.RTCPFeedback, webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC})
		}
		if !publish && kind == webrtc.RTPCodecTypeVideo {
			c.RTCPFeedback = append(c.RTCPFeedback, webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBGoogREMB})
		}
		if err := me.RegisterCodec(c, kind); err != nil {
			return nil, err
		}
	}
	reg := &interceptor.Registry{}
	// Audio levels pass through from publishers to subscribers (clients may use them for meters).
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	if publish {
		if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
			return nil, err
		}
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
		if fast {
			return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(reg)), nil
		}
		// Ask publishers to retransmit what we lost, report reception, and give them transport-wide
		// feedback for their bandwidth estimation.
		gen, err := nack.NewGeneratorInterceptor()
		if err != nil {
			return nil, err
		}
		reg.Add(gen)
		rr, err := report.NewReceiverInterceptor()
		if err != nil {
			return nil, err
		}
		reg.Add(rr)
		tw, err := twcc.NewSenderInterceptor()
		if err != nil {
			return nil, err
		}
		reg.Add(tw)
	} else {
		// The SFU stamps abs-send-time on video so browsers' receive-side estimators (which produce
		// the REMB the SFU chooses layers by) see real send times.
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.ABSSendTimeURI}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
		// No interceptors on this side. NACKs are answered by the SFU from the one packet cache per
		// published track, so pion's per-sender NACK responder is deliberately absent; sender reports
		// come from the DownTracks' own counters (sfu.SenderReports, sent by the peer once a second),
		// since pion's sender-report interceptor takes a mutex and reads the clock for every packet.
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(reg)), nil
}

// MediaAddrs lists the address:port pairs where peers reach our media socket: the TURN server always
// allows relaying to these, so a relay-only client still reaches the SFU.
func (e *Engine) MediaAddrs() []netip.AddrPort {
	port := uint16(e.udpConn.LocalAddr().(*net.UDPAddr).Port)
	var out []netip.AddrPort
	for _, a := range e.udpMux.GetListenAddresses() {
		if ua, ok := a.(*net.UDPAddr); ok {
			if ip, ok := netip.AddrFromSlice(ua.IP); ok {
				out = append(out, netip.AddrPortFrom(ip.Unmap(), port))
			}
		}
	}
	for _, s := range e.cfg.PublicIPs {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.AddrPortFrom(ip.Unmap(), port))
		}
	}
	if e.tcpLn != nil {
		tport := uint16(e.tcpLn.Addr().(*net.TCPAddr).Port)
		for _, a := range append([]netip.AddrPort(nil), out...) {
			out = append(out, netip.AddrPortFrom(a.Addr(), tport))
		}
	}
	return out
}

// Batcher lets a goroutine send a burst of media writes with one system call: between Hold and the
// last Release, writes to the media socket are only queued; the last Release sends them.
type Batcher interface {
	Hold()
	Release()
}

// Batch returns the media socket's Batcher, or nil when writes are not batched (turned off, or not
// Linux). The SFU holds it while it fans one incoming packet out to its subscribers.
func (e *Engine) Batch() Batcher {
	if b, ok := e.media.(Batcher); ok {
		return b
	}
	return nil
}

// UDPAddr is the bound media socket address (useful when configured with port 0).
func (e *Engine) UDPAddr() *net.UDPAddr { return e.udpConn.LocalAddr().(*net.UDPAddr) }

// Close stops the media sockets; existing peer connections fail.
func (e *Engine) Close() {
	if e.udpMux != nil {
		e.udpMux.Close()
	}
	if e.tcpMux != nil {
		e.tcpMux.Close()
	}
	if e.tcpLn != nil {
		e.tcpLn.Close()
	}
}

func isVirtualInterface(name string) bool {
	for _, p := range []string{"docker", "br-", "veth", "virbr", "vmnet", "vboxnet"} {
		if len(name) >= len(p) && name[:len(p)] == p {
			return true
		}
	}
	return false
}
