package sip

import (
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// Fuzz targets for the call control parsers of outside input:
//
//	go test -fuzz FuzzReInviteOffer ./internal/sip/
//	go test -fuzz FuzzInfoDTMF ./internal/sip/
//	go test -fuzz FuzzReferHeaders ./internal/sip/

// An answered dialog's answer to any re-INVITE offer: 200 with an SDP we
// can read back and a direction that mirrors the offer, or 488 with the
// session unchanged.
func FuzzReInviteOffer(f *testing.F) {
	f.Add(offerAt(40000, SendOnly))
	f.Add(offerAt(40002, Inactive))
	f.Add(strings.Replace(offerAt(40000, SendRecv), "c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0", 1))
	f.Add("v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n")
	f.Add("v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=recvonly\r\n")
	f.Add("")
	s := &Server{cfg: Config{}.WithDefaults(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rs, err := ListenRTP("127.0.0.1:0", netip.Addr{})
	if err != nil {
		f.Fatal(err)
	}
	defer rs.Close()
	start := netip.MustParseAddrPort("127.0.0.1:40000")
	f.Fuzz(func(t *testing.T, body string) {
		d := newDialog(s, "fuzz", RecordInbound)
		rs.SetRemote(start, 0, 101)
		d.rtp, d.codec, d.dtmf = rs, PCMU, 101
		ver := d.sdpVer
		out, code := d.takeOffer([]byte(body))
		switch code {
		case 488:
			if d.sdpVer != ver || d.heldByPeer || rs.signalledAddr() != start {
				t.Fatalf("a refused offer changed the session")
			}
		case 200:
			ans, err := ParseSDP(out)
			if err != nil {
				t.Fatalf("our answer does not parse: %v\n%s", err, out)
			}
			if len(ans.Codecs) != 1 || ans.Codecs[0].Name != "PCMU" {
				t.Fatalf("answer codecs %+v", ans.Codecs)
			}
			if body == "" {
				return
			}
			offer, _ := ParseSDP([]byte(body))
			held := offer.Direction == SendOnly || offer.Direction == Inactive || offer.Addr.Addr().IsUnspecified()
			if held != d.heldByPeer {
				t.Fatalf("offer %q held=%v, dialog says %v", offer.Direction, held, d.heldByPeer)
			}
			if held && (ans.Direction == SendRecv || ans.Direction == SendOnly) {
				t.Fatalf("held by %q, we answered %q", offer.Direction, ans.Direction)
			}
		default:
			t.Fatalf("code %d", code)
		}
	})
}

func FuzzInfoDTMF(f *testing.F) {
	f.Add("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n")
	f.Add("application/dtmf-relay", "Signal= 11\nDuration=99999999999999999999")
	f.Add("Application/DTMF-Relay; charset=x", "signal=*")
	f.Add("application/dtmf", "#")
	f.Add("application/dtmf", "16")
	f.Add("application/sdp", "v=0")
	f.Fuzz(func(t *testing.T, ct, body string) {
		ev, err := ParseInfoDTMF(ct, []byte(body))
		if err != nil {
			return
		}
		if strings.IndexByte(dtmfDigits, ev.Digit) < 0 || ev.Duration < 160 || ev.Duration > 64000 {
			t.Fatalf("accepted %+v from %q %q", ev, ct, body)
		}
	})
}

// Refer-To, sipfrag and Session-Expires values from the phone.
func FuzzReferHeaders(f *testing.F) {
	f.Add("<sip:+15551234@sb.test>")
	f.Add("sip:bob@example.com;method=INVITE")
	f.Add("<sip:x@y?Replaces=1>")
	f.Add("<sip:@>")
	f.Add("tel:+1-555-123")
	f.Add("<sip:100@evil.example;transport=tcp>")
	f.Add("<")
	f.Add("SIP/2.0 200 OK")
	f.Add("1800;refresher=uac")
	f.Fuzz(func(t *testing.T, v string) {
		if target, host, err := referTarget(v); err == nil && (target == "" || strings.Contains(strings.ToLower(target+host), "replaces") ||
			strings.ContainsAny(target, "@<> \t\r\n") || strings.ContainsAny(host, "@<>;? \t\r\n")) {
			t.Fatalf("Refer-To %q gave %q at %q", v, target, host)
		}
		if st, ok := parseSipfrag([]byte(v)); ok && (st < 100 || st > 699) {
			t.Fatalf("sipfrag %q gave %d", v, st)
		}
		req := sip.NewRequest(sip.UPDATE, sip.Uri{Scheme: "sip", Host: "x"})
		req.AppendHeader(sip.NewHeader("Session-Expires", v))
		if iv, who, ok := sessionExpires(req); ok && (iv <= 0 || (who != "" && who != strings.ToLower(who))) {
			t.Fatalf("Session-Expires %q gave %v %q", v, iv, who)
		}
	})
}
