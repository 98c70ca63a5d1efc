package sip

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// SIP INFO DTMF: many phones send key presses in INFO requests instead of
// (or as well as) RFC 4733 packets, as application/dtmf-relay
// ("Signal=5\r\nDuration=160") or application/dtmf ("5"). Each is answered
// 200 and handed to the RTP session's signalled-key listener: the media
// bridge reports it like an RFC 4733 key and relays it in band, so
// browsers and other phones get it either way.

// infoDurationDefault is a key's length when the INFO does not say (ms).
const infoDurationDefault = 160

// maxInfoBody bounds what we read of an INFO body.
const maxInfoBody = 1024

var errNotDTMF = errors.New("sip: INFO body is not DTMF")

// ParseInfoDTMF reads a key press from an INFO body of contentType. It
// returns errNotDTMF for other content types, another error for a DTMF
// body it cannot read.
func ParseInfoDTMF(contentType string, body []byte) (DTMFEvent, error) {
	ct, _, _ := strings.Cut(contentType, ";")
	ct = strings.ToLower(strings.TrimSpace(ct))
	if len(body) > maxInfoBody {
		return DTMFEvent{}, fmt.Errorf("sip: INFO body of %d bytes is too large", len(body))
	}
	switch ct {
	case "application/dtmf-relay":
		var ev DTMFEvent
		var have bool
		dur := infoDurationDefault
		for line := range strings.Lines(string(body)) {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			v = strings.TrimSpace(v)
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "signal":
				d, ok := dtmfDigit(v)
				if !ok {
					return DTMFEvent{}, fmt.Errorf("sip: INFO signal %q is not a key", truncate(v, 16))
				}
				ev.Digit, have = d, true
			case "duration":
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return DTMFEvent{}, fmt.Errorf("sip: INFO duration %q is not a number", truncate(v, 16))
				}
				dur = n
			}
		}
		if !have {
			return DTMFEvent{}, errors.New("sip: INFO dtmf-relay without Signal")
		}
		ev.Duration = msToTimestamp(dur)
		return ev, nil
	case "application/dtmf":
		d, ok := dtmfDigit(strings.TrimSpace(string(body)))
		if !ok {
			return DTMFEvent{}, fmt.Errorf("sip: INFO dtmf %q is not a key", truncate(strings.TrimSpace(string(body)), 16))
		}
		return DTMFEvent{Digit: d, Duration: msToTimestamp(infoDurationDefault)}, nil
	}
	return DTMFEvent{}, errNotDTMF
}

// dtmfDigit reads a key: its character, or its RFC 4733 event number
// (some phones send "Signal=10" for *, 11 for #).
func dtmfDigit(v string) (byte, bool) {
	if len(v) == 1 {
		c := v[0]
		if 'a' <= c && c <= 'd' {
			c -= 'a' - 'A'
		}
		if strings.IndexByte(dtmfDigits, c) >= 0 {
			return c, true
		}
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 && n < len(dtmfDigits) {
		return dtmfDigits[n], true
	}
	return 0, false
}

// msToTimestamp converts a key's length to 8 kHz timestamp units, within
// RFC 4733's 16 bits and at least one 20 ms packet.
func msToTimestamp(ms int) uint16 {
	return uint16(min(max(ms, 20), 8000) * 8)
}

// onInfo answers INFO inside a call.
func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	d := s.inDialog(req, tx)
	if d == nil {
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	if len(req.Body()) == 0 {
		s.respond(req, tx, 200, "OK") // an empty INFO: a keep-alive
		return
	}
	ev, err := ParseInfoDTMF(ct, req.Body())
	switch {
	case errors.Is(err, errNotDTMF):
		if strings.HasPrefix(strings.ToLower(ct), "application/media_control+xml") {
			// A video phone's picture update: nothing to do for audio.
			s.respond(req, tx, 200, "OK")
			return
		}
		s.respond(req, tx, 415, "Unsupported Media Type", sip.NewHeader("Accept", "application/dtmf-relay, application/dtmf"))
		return
	case err != nil:
		s.log.Info("sip: INFO refused", "call", d.callID, "err", err)
		s.respond(req, tx, 400, "Bad Request")
		return
	}
	s.respond(req, tx, 200, "OK")
	rs := d.RTP()
	if rs == nil { // a WebRTC call: its media is the app's
		d.mu.Lock()
		f := d.onInfoKey
		d.mu.Unlock()
		if f != nil {
			f(ev)
		}
		return
	}
	rs.CountKeys(true, 1)
	if !rs.signalledKey(ev) {
		s.log.Debug("sip: key from INFO with nobody listening", "call", d.callID)
	}
}

// OnInfoKey sets what is told of keys sent by SIP INFO in a call with no
// RTP session of ours (a browser SIP client's WebRTC media); calls with
// one hand them to the session (RTPSession.OnSignalledKey).
func (d *dialog) OnInfoKey(f func(DTMFEvent)) {
	d.mu.Lock()
	d.onInfoKey = f
	d.mu.Unlock()
}
