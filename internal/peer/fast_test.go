package peer

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
)

// A retransmission (RFC 4588) becomes the packet it repairs: original sequence number, media SSRC
// and payload type, payload without the OSN, header extensions and padding kept; a padding-only
// bandwidth probe and malformed packets give nothing.
func TestUnwrapRTX(t *testing.T) {
	orig := rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, PayloadType: 96, SequenceNumber: 4242,
		Timestamp: 90000, SSRC: 1111}, Payload: []byte("a VP8 frame")}
	if err := orig.Header.SetExtension(3, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	rtx := orig
	rtx.Header = orig.Header.Clone()
	rtx.SequenceNumber, rtx.SSRC, rtx.PayloadType = 7, 2222, 97
	rtx.Payload = append([]byte{4242 >> 8, 4242 & 0xff}, orig.Payload...)
	for _, padding := range []bool{false, true} {
		r := rtx
		r.Header = rtx.Header.Clone()
		if padding {
			r.Padding, r.PaddingSize = true, 4
		}
		raw, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got := unwrapRTX(raw, 1111, 96)
		var p rtp.Packet
		if err := p.Unmarshal(got); err != nil {
			t.Fatalf("padding %v: %v", padding, err)
		}
		if p.SequenceNumber != 4242 || p.SSRC != 1111 || p.PayloadType != 96 || !p.Marker ||
			!bytes.Equal(p.Payload, orig.Payload) || !bytes.Equal(p.GetExtension(3), []byte{1, 2, 3}) {
			t.Fatalf("padding %v: unwrapped to %v payload %q", padding, p.Header, p.Payload)
		}
	}
	probe := rtx
	probe.Header = rtx.Header.Clone()
	probe.Payload = nil
	probe.Padding, probe.PaddingSize = true, 200
	raw, _ := probe.Marshal()
	for name, b := range map[string][]byte{"probe": raw, "short": raw[:10], "truncated extension": raw[:14]} {
		if got := unwrapRTX(b, 1111, 96); got != nil {
			t.Errorf("%s: unwrapped to %d bytes", name, len(got))
		}
	}
}

// unwrapRTX parses what publishers send: it must not panic on anything.
func FuzzUnwrapRTX(f *testing.F) {
	f.Add([]byte{0x90, 97, 0, 7, 0, 1, 95, 144, 0, 0, 8, 174, 0xbe, 0xde, 0, 1, 0x32, 1, 2, 3, 16, 146, 'x'})
	f.Add([]byte{0xa0, 97, 0, 7, 0, 1, 95, 144, 0, 0, 8, 174, 0, 0, 0, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		if got := unwrapRTX(bytes.Clone(b), 1, 96); got != nil && len(got) != len(b)-2 {
			t.Fatalf("unwrapped %d bytes to %d", len(b), len(got))
		}
	})
}
