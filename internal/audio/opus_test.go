//go:build libopus

package audio

import (
	"testing"
	"time"
)

// TestOpusRoundTrip encodes a tone and decodes it: after the codec's
// start-up the tone comes back at about its level.
func TestOpusRoundTrip(t *testing.T) {
	enc, err := NewOpusEncoder()
	if err != nil {
		t.Fatal(err)
	}
	rx, err := NewOpusReceiver()
	if err != nil {
		t.Fatal(err)
	}
	var out []int16
	for f := range 50 {
		pkt, err := enc.Encode(nil, Tone(nil, 440, Rate, f*FrameSamples, FrameSamples, 0.3))
		if err != nil {
			t.Fatal(err)
		}
		if len(pkt) == 0 || len(pkt) > 200 {
			t.Fatalf("packet of %d bytes for 20 ms at %d bit/s", len(pkt), OpusBitrate)
		}
		pcm, err := rx.Packet(uint16(f), pkt)
		if err != nil {
			t.Fatal(err)
		}
		if len(pcm) != FrameSamples {
			t.Fatalf("frame %d: %d samples", f, len(pcm))
		}
		out = append(out, pcm...)
	}
	checkTone(t, "opus", 440, Rate, out[len(out)/2:], 0.3, 0.6, 1.4)
	if _, err := enc.Encode(nil, make([]int16, 100)); err == nil {
		t.Error("encoding a short frame succeeded")
	}
	if _, err := rx.Packet(50, []byte{0xff, 0xff, 0xff}); err == nil {
		t.Error("decoding garbage succeeded")
	}
}

// TestOpusReceiverConceals loses packets: the receiver fills the gaps
// (FEC from the next packet, PLC before it) so the stream keeps its timing,
// ignores late packets, and leaves long gaps (mute, DTX) alone.
func TestOpusReceiverConceals(t *testing.T) {
	enc, _ := NewOpusEncoder()
	rx, _ := NewOpusReceiver()
	var pkts [][]byte
	for f := range 40 {
		p, err := enc.Encode(nil, Tone(nil, 440, Rate, f*FrameSamples, FrameSamples, 0.3))
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, p)
	}
	total := 0
	for _, tc := range []struct {
		seq  int
		want int // frames out
	}{
		{0, 1}, {1, 1}, {2, 1}, {4, 2} /* 3 lost: FEC */, {8, 4} /* 5-7 lost: PLC, PLC, FEC */, {7, 0}, /* late */
		{9, 1}, {20, 1} /* a long gap: not filled */, {21, 1},
	} {
		pcm, err := rx.Packet(uint16(tc.seq), pkts[tc.seq])
		if err != nil {
			t.Fatalf("packet %d: %v", tc.seq, err)
		}
		if len(pcm) != tc.want*FrameSamples {
			t.Fatalf("packet %d: %d samples, want %d frames", tc.seq, len(pcm), tc.want)
		}
		total += len(pcm)
	}
	if rx.Lost != 14 || rx.Recovered != 4 {
		t.Errorf("lost %d recovered %d, want 14 and 4", rx.Lost, rx.Recovered)
	}
}

// BenchmarkTranscodeCall is one phone call in a meeting for one second of
// audio, both directions as the conference participant does them:
// meeting -> phone: decode one speaker's Opus, mix, downsample, encode
// G.711; phone -> meeting: decode G.711, upsample, level, encode Opus.
// Its result gives transcoded calls per core: 1 s / (time per op).
func BenchmarkTranscodeCall(b *testing.B) {
	enc, _ := NewOpusEncoder()
	var pkts [][]byte
	for f := range 50 {
		p, _ := enc.Encode(nil, Tone(nil, 440, Rate, f*FrameSamples, FrameSamples, 0.3))
		pkts = append(pkts, p)
	}
	phone := make([][]byte, 50)
	for f := range phone {
		phone[f] = EncodeG711(ULaw, nil, Tone(nil, 700, PhoneRate, f*PhoneFrameSamples, PhoneFrameSamples, 0.3))
	}
	rx, _ := NewOpusReceiver()
	mix := NewMixer(FrameSamples, 3)
	down, up := NewDownsampler(), NewUpsampler()
	toRoom, _ := NewOpusEncoder()
	var (
		seq     uint16
		out48   = make([]int16, 0, FrameSamples)
		out8    = make([]int16, 0, PhoneFrameSamples)
		g711    = make([]byte, 0, PhoneFrameSamples)
		in8     = make([]int16, 0, PhoneFrameSamples)
		in48    = make([]int16, 0, FrameSamples)
		opusOut = make([]byte, 0, OpusPayloadMax)
	)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for f := range 50 {
			// To the phone.
			pcm, err := rx.Packet(seq, pkts[f])
			seq++
			if err != nil {
				b.Fatal(err)
			}
			mix.Push("speaker", pcm)
			mix.Tick()
			out48 = mix.Output(out48[:0], "")
			out8, _ = down.Process(out8[:0], out48)
			g711 = EncodeG711(ULaw, g711[:0], out8)
			// From the phone.
			in8 = DecodeG711(ULaw, in8[:0], phone[f])
			in48 = up.Process(in48[:0], in8)
			_ = Level(in48)
			if opusOut, err = toRoom.Encode(opusOut[:0], in48); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	perOp := b.Elapsed() / time.Duration(b.N)
	if perOp > 0 {
		b.ReportMetric(float64(time.Second)/float64(perOp), "calls/core")
	}
}
