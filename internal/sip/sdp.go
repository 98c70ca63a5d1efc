package sip

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// SDP offer/answer (RFC 3264) for the SIP side of a call: plain RTP audio
// with the codecs a telephone network speaks, plus RFC 4733 telephone-events
// for keypad tones. The browser side negotiates with pion; the bridge (to
// come) matches the two.

// Codec is an audio codec on the SIP side. PayloadType is the peer's number
// for it (static for these three, but an offer may say otherwise).
type Codec struct {
	Name        string // as in rtpmap: PCMU, PCMA, G722
	PayloadType uint8
	ClockRate   uint32 // RTP clock rate; G.722's is 8000 by an old mistake kept by RFC 3551
}

// The codecs we pass through without transcoding, in our order of
// preference: G.722 for wideband, then G.711 (µ-law first, the North
// American default, then A-law).
var (
	PCMU = Codec{Name: "PCMU", PayloadType: 0, ClockRate: 8000}
	PCMA = Codec{Name: "PCMA", PayloadType: 8, ClockRate: 8000}
	G722 = Codec{Name: "G722", PayloadType: 9, ClockRate: 8000}

	DefaultCodecs = []Codec{G722, PCMU, PCMA}
)

// Media directions (RFC 3264 section 5.1); sendonly and inactive put a call on hold.
const (
	SendRecv = "sendrecv"
	SendOnly = "sendonly"
	RecvOnly = "recvonly"
	Inactive = "inactive"
)

// MediaDescription is what we need from an offer or answer: where to send
// RTP, which codecs in the peer's order, its telephone-event payload type.
type MediaDescription struct {
	Addr      netip.AddrPort // the peer's RTP address; port 0 means the stream is refused
	Codecs    []Codec        // those of ours the peer listed, in its order, with its payload types
	DTMF      uint8          // telephone-event payload type at 8000 Hz
	HasDTMF   bool
	Direction string
	// WebRTC marks an offer from a browser SIP client (JsSIP, SIP.js): ICE
	// and DTLS-SRTP on UDP/TLS/RTP/SAVPF. Its media needs a peer
	// connection (Call.AnswerSDP), not an RTPSession.
	WebRTC bool
	// SRTP is the peer's SDES key (RTP/SAVP with a=crypto, sdes.go).
	SRTP *SDES
}

// Errors that map to 488 Not Acceptable Here.
var (
	ErrNoAudio       = errors.New("sip: sdp has no usable audio stream")
	ErrNoCommonCodec = errors.New("sip: no codec in common")
	ErrSecureMedia   = errors.New("sip: sdp asks for SRTP, not supported yet")
)

// maxSDP bounds an SDP body; real ones are well under 2 KB.
const maxSDP = 8 << 10

// ParseSDP reads the first audio stream of an SDP offer or answer.
func ParseSDP(body []byte) (MediaDescription, error) {
	if len(body) > maxSDP {
		return MediaDescription{}, fmt.Errorf("sip: sdp of %d bytes is too large", len(body))
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(body)); err != nil {
		return MediaDescription{}, fmt.Errorf("sip: bad sdp: %w", err)
	}
	var secure bool
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" {
			continue
		}
		proto := strings.Join(md.MediaName.Protos, "/")
		if proto == "UDP/TLS/RTP/SAVPF" && hasFingerprint(&sd, md) {
			d, err := parseAudio(&sd, md)
			// The peer connection answering it negotiates the call's codec
			// alone: keys from such clients come by SIP INFO.
			d.WebRTC, d.HasDTMF, d.DTMF = true, false, 0
			return d, err
		}
		if proto == "RTP/SAVP" || proto == "RTP/SAVPF" {
			key, ok := parseCrypto(md)
			if !ok { // DTLS without WebRTC, or no suite we take
				secure = true
				continue
			}
			d, err := parseAudio(&sd, md)
			d.SRTP = key
			return d, err
		}
		if proto != "RTP/AVP" {
			secure = secure || strings.Contains(proto, "SAVP")
			continue
		}
		return parseAudio(&sd, md)
	}
	if secure {
		return MediaDescription{}, ErrSecureMedia
	}
	return MediaDescription{}, ErrNoAudio
}

// hasFingerprint tells whether a stream has a DTLS certificate fingerprint
// (session or media level): what makes SAVPF WebRTC rather than SDES.
func hasFingerprint(sd *sdp.SessionDescription, md *sdp.MediaDescription) bool {
	for _, a := range append(append([]sdp.Attribute{}, sd.Attributes...), md.Attributes...) {
		if a.Key == "fingerprint" {
			return true
		}
	}
	return false
}

func parseAudio(sd *sdp.SessionDescription, md *sdp.MediaDescription) (MediaDescription, error) {
	var d MediaDescription
	ci := md.ConnectionInformation
	if ci == nil {
		ci = sd.ConnectionInformation
	}
	if ci == nil || ci.Address == nil || ci.NetworkType != "IN" {
		return d, ErrNoAudio
	}
	host, _, _ := strings.Cut(ci.Address.Address, "/") // multicast TTL suffix
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return d, fmt.Errorf("sip: sdp connection address %q is not an IP address", truncate(host, 64))
	}
	port := md.MediaName.Port.Value
	if port < 0 || port > 65535 {
		return d, ErrNoAudio
	}
	d.Addr = netip.AddrPortFrom(ip.Unmap(), uint16(port))

	rtpmap := map[uint8]string{} // payload type -> "NAME/rate"
	d.Direction = SendRecv
	for _, a := range append(append([]sdp.Attribute{}, sd.Attributes...), md.Attributes...) {
		switch a.Key {
		case "rtpmap":
			pt, enc, ok := strings.Cut(a.Value, " ")
			if n, err := strconv.ParseUint(pt, 10, 7); ok && err == nil {
				rtpmap[uint8(n)] = strings.TrimSpace(enc)
			}
		case SendRecv, SendOnly, RecvOnly, Inactive:
			d.Direction = a.Key // media-level attributes come last and win
		}
	}
	for _, f := range md.MediaName.Formats {
		n, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			continue
		}
		pt := uint8(n)
		enc, mapped := rtpmap[pt]
		name, rate := "", ""
		if mapped {
			name, rate, _ = strings.Cut(enc, "/")
			rate, _, _ = strings.Cut(rate, "/") // channels
		} else {
			// Static payload types need no rtpmap (RFC 3551).
			for _, c := range DefaultCodecs {
				if c.PayloadType == pt {
					name, rate = c.Name, "8000"
				}
			}
		}
		if strings.EqualFold(name, "telephone-event") && rate == "8000" && !d.HasDTMF {
			d.DTMF, d.HasDTMF = pt, true
			continue
		}
		for _, c := range DefaultCodecs {
			if strings.EqualFold(name, c.Name) && rate == "8000" {
				c.PayloadType = pt
				d.Codecs = append(d.Codecs, c)
			}
		}
	}
	return d, nil
}

// Negotiate picks the codec of an answer to offer: the first of prefs the
// offer lists, with the offer's payload type.
func Negotiate(offer MediaDescription, prefs []Codec) (Codec, error) {
	for _, p := range prefs {
		for _, c := range offer.Codecs {
			if c.Name == p.Name {
				return c, nil
			}
		}
	}
	return Codec{}, ErrNoCommonCodec
}

// AnswerDirection is our direction in answer to the offer's: a peer that
// only sends (holds us) gets recvonly, and so on (RFC 3264 section 6.1).
func AnswerDirection(offered string) string {
	switch offered {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	}
	return SendRecv
}

// SessionSDP writes an SDP body with one audio stream at local: the codecs
// (one for an answer, our list for an offer), telephone-event when dtmf is
// not negative, and a direction. version must grow with every new SDP of the
// same session (RFC 3264 section 8).
func SessionSDP(local netip.AddrPort, sessionID, version uint64, codecs []Codec, dtmf int, direction string) []byte {
	return sessionSDP(local, sessionID, version, codecs, dtmf, direction, nil)
}

// sessionSDP is SessionSDP with our SDES key when the media is SRTP.
func sessionSDP(local netip.AddrPort, sessionID, version uint64, codecs []Codec, dtmf int, direction string, key *SDES) []byte {
	ipv := "IP4"
	if local.Addr().Is6() {
		ipv = "IP6"
	}
	var b strings.Builder
	b.WriteString("v=0\r\n")
	fmt.Fprintf(&b, "o=switchboard %d %d IN %s %s\r\n", sessionID, version, ipv, local.Addr())
	b.WriteString("s=-\r\n")
	fmt.Fprintf(&b, "c=IN %s %s\r\n", ipv, local.Addr())
	b.WriteString("t=0 0\r\n")
	proto := "RTP/AVP"
	if key != nil {
		proto = "RTP/SAVP"
	}
	fmt.Fprintf(&b, "m=audio %d %s", local.Port(), proto)
	for _, c := range codecs {
		fmt.Fprintf(&b, " %d", c.PayloadType)
	}
	if dtmf >= 0 {
		fmt.Fprintf(&b, " %d", dtmf)
	}
	b.WriteString("\r\n")
	for _, c := range codecs {
		fmt.Fprintf(&b, "a=rtpmap:%d %s/%d\r\n", c.PayloadType, c.Name, c.ClockRate)
	}
	if dtmf >= 0 {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", dtmf, dtmf)
	}
	if key != nil {
		fmt.Fprintf(&b, "a=crypto:%s\r\n", key.attribute())
	}
	b.WriteString("a=ptime:20\r\n")
	fmt.Fprintf(&b, "a=%s\r\n", direction)
	return []byte(b.String())
}
