package sip

import "encoding/binary"

// RFC 4733 telephone-events: a key press is a series of packets with one
// RTP timestamp (the event's start), a growing duration, and the end bit set
// on the last ones (sent three times for robustness). An event is therefore
// identified by its timestamp, not by the marker bit, which is lost as easily
// as any packet.

// DTMFEvent is one key press received.
type DTMFEvent struct {
	Digit    byte   // '0'-'9', '*', '#', 'A'-'D'
	Duration uint16 // in RTP timestamp units (8000 Hz)
}

const dtmfDigits = "0123456789*#ABCD"

// dtmfDetector turns telephone-event packets into key presses.
type dtmfDetector struct {
	started  bool
	ts       uint32 // timestamp of the current event
	ended    bool   // the current event has been reported
	event    byte
	duration uint16
}

// parseTelephoneEvent reads an RFC 4733 payload: event, end bit, duration.
func parseTelephoneEvent(payload []byte) (event byte, end bool, duration uint16, ok bool) {
	if len(payload) < 4 {
		return 0, false, 0, false
	}
	return payload[0], payload[1]&0x80 != 0, binary.BigEndian.Uint16(payload[2:4]), true
}

// feed takes one telephone-event packet and returns the key presses it
// completes: usually none or one; two when an event's end packets were all
// lost and the next event begins.
func (d *dtmfDetector) feed(timestamp uint32, payload []byte) []DTMFEvent {
	ev, end, dur, ok := parseTelephoneEvent(payload)
	if !ok || int(ev) >= len(dtmfDigits) {
		return nil
	}
	var out []DTMFEvent
	if !d.started || timestamp != d.ts {
		if d.started && !d.ended {
			out = append(out, DTMFEvent{Digit: dtmfDigits[d.event], Duration: d.duration})
		}
		d.started, d.ts, d.ended, d.event, d.duration = true, timestamp, false, ev, 0
	}
	if d.ended {
		return out // a repeated end packet
	}
	d.duration = dur // it grows through the event; the last one is the length
	if end {
		d.ended = true
		out = append(out, DTMFEvent{Digit: dtmfDigits[d.event], Duration: d.duration})
	}
	return out
}

// DTMFDetector turns a stream's telephone-event packets into key presses,
// for users outside this package (the media bridge). Not safe for
// concurrent use.
type DTMFDetector struct{ d dtmfDetector }

// Feed takes one telephone-event packet (its RTP timestamp and payload)
// and returns the key presses it completes.
func (d *DTMFDetector) Feed(timestamp uint32, payload []byte) []DTMFEvent {
	return d.d.feed(timestamp, payload)
}
