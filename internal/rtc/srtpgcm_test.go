package rtc

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// TestGCMSealerMatchesPion: the fast path's AES-GCM encryption gives pion's SRTP packets byte for byte,
// across a wrap of the sequence numbers, with header extensions and CSRCs, for a stream started fresh
// and for one continued from pion's index; a pion receiver decrypts them all.
func TestGCMSealerMatchesPion(t *testing.T) {
	key, salt := bytes.Repeat([]byte{0x11}, 16), []byte("twelve bytes")
	sealer, err := newGCMSealer(key, salt)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		pionIdx  uint64 // what pion sent of the stream before (0: nothing)
		startSeq uint16
	}{
		{"fresh", 0, 65000},
		{"after pion", 3<<16 | 65500, 65510}, // pion sent up to roc 3; the fast path goes on across a wrap
	} {
		t.Run(tc.name, func(t *testing.T) {
			const ssrc = 0xdecafbad
			ref, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
			if err != nil {
				t.Fatal(err)
			}
			rx, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
			if err != nil {
				t.Fatal(err)
			}
			pion := seqIndex{}
			if tc.pionIdx != 0 {
				pion[ssrc] = tc.pionIdx
				ref.SetROC(ssrc, uint32(tc.pionIdx>>16))
				rx.SetROC(ssrc, uint32(tc.pionIdx>>16))
			}
			var st txStream
			buf := make([]byte, 1600)
			for i := range 1200 {
				seq := tc.startSeq + uint16(i)
				if i%97 == 5 {
					seq -= 3 // a retransmission of an earlier packet, possibly from before the wrap
				}
				h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(i) * 3000, SSRC: ssrc,
					Marker: i%8 == 7}
				if i%3 == 0 {
					h.CSRC = []uint32{7, 8}
				}
				if i%2 == 0 {
					_ = h.SetExtension(3, []byte{byte(i), 2, 3})
				}
				payload := bytes.Repeat([]byte{byte(i)}, 1+i%1100)
				plain, _ := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
				want, err := ref.EncryptRTP(nil, plain, nil)
				if err != nil {
					t.Fatal(err)
				}
				hl := h.MarshalSize()
				copy(buf, plain)
				got := sealer.seal(buf, hl, len(plain), ssrc, st.roc(pion, ssrc, seq), seq)
				st.fast = true
				if !bytes.Equal(got, want) {
					t.Fatalf("packet %d (seq %d): sealed differently from pion", i, seq)
				}
				if i%97 != 5 { // pion's receiver rejects the repeated index as a replay
					if _, err := rx.DecryptRTP(nil, got, nil); err != nil {
						t.Fatalf("packet %d (seq %d): pion cannot decrypt it: %v", i, seq, err)
					}
				}
			}
		})
	}
}

func TestGCMSealerDoesNotAllocate(t *testing.T) {
	sealer, err := newGCMSealer(make([]byte, 16), make([]byte, 12))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1300)
	if a := testing.AllocsPerRun(100, func() { sealer.seal(buf, 12, 1200, 1, 0, 1) }); a != 0 {
		t.Fatalf("%.1f allocations per packet", a)
	}
}
