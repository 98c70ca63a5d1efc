//go:build libopus

package audio

import (
	"testing"
	"time"
)

// TestOpusRoundTrip encodes a tone and decodes it, at either rate on
// either side (the Opus stream does not depend on them): after the codec's
// start-up the tone comes back at about its level and frequency.
func TestOpusRoundTrip(t *testing.T) {
	for _, tc := range []struct{ in, out int }{
		{Rate, Rate}, {PhoneRate, Rate}, {Rate, PhoneRate}, {PhoneRate, PhoneRate},
	} {
		enc, err := NewOpusEncoder(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		rx, err := NewOpusReceiver(tc.out)
		if err != nil {
			t.Fatal(err)
		}
		var out []int16
		for f := range 50 {
			pkt, err := enc.Encode(nil, Tone(nil, 440, tc.in, f*tc.in/50, tc.in/50, 0.3))
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
			if len(pcm) != tc.out/50 {
				t.Fatalf("%d -> %d Hz, frame %d: %d samples", tc.in, tc.out, f, len(pcm))
			}
			out = append(out, pcm...)
		}
		checkTone(t, "opus", 440, tc.out, out[len(out)/2:], 0.3, 0.6, 1.4)
		if _, err := enc.Encode(nil, make([]int16, 100)); err == nil {
			t.Error("encoding a short frame succeeded")
		}
		if _, err := rx.Packet(50, []byte{0xff, 0xff, 0xff}); err == nil {
			t.Error("decoding garbage succeeded")
		}
	}
	if _, err := NewOpusEncoder(44100); err == nil {
		t.Error("an encoder at 44.1 kHz")
	}
}

// TestOpusReceiverConceals loses packets: the receiver fills the gaps
// (FEC from the next packet, PLC before it) so the stream keeps its timing,
// ignores late packets, and leaves long gaps (mute, DTX) alone.
func TestOpusReceiverConceals(t *testing.T) {
	enc, _ := NewOpusEncoder(Rate)
	rx, _ := NewOpusReceiver(PhoneRate)
	var pkts [][]byte
	for f := range 40 {
		p, err := enc.Encode(nil, Tone(nil, 440, Rate, f*FrameSamples, FrameSamples, 0.3))
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, p)
	}
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
		if len(pcm) != tc.want*PhoneFrameSamples {
			t.Fatalf("packet %d: %d samples, want %d frames", tc.seq, len(pcm), tc.want)
		}
	}
	if rx.Lost != 14 || rx.Recovered != 4 {
		t.Errorf("lost %d recovered %d, want 14 and 4", rx.Lost, rx.Recovered)
	}
}

// callFixture is one call's media for a second: a meeting speaker's Opus
// packets and the phone's G.711 frames.
func callFixture() (opusPkts, phone [][]byte) {
	enc, _ := NewOpusEncoder(Rate)
	for f := range 50 {
		p, _ := enc.Encode(nil, Tone(nil, 440, Rate, f*FrameSamples, FrameSamples, 0.3))
		opusPkts = append(opusPkts, p)
	}
	for f := range 50 {
		phone = append(phone, EncodeG711(ULaw, nil, Tone(nil, 700, PhoneRate, f*PhoneFrameSamples, PhoneFrameSamples, 0.3)))
	}
	return opusPkts, phone
}

// reportCalls turns time per op (one call for one second) into calls per core.
func reportCalls(b *testing.B) {
	b.StopTimer()
	if perOp := b.Elapsed() / time.Duration(b.N); perOp > 0 {
		b.ReportMetric(float64(time.Second)/float64(perOp), "calls/core")
	}
}

// BenchmarkTranscodeCall is one phone call in a meeting for one second of
// audio, both directions as bridge.Conference does them: meeting -> phone:
// decode one speaker's Opus (libopus straight to 8 kHz), mix, encode
// G.711; phone -> meeting: decode G.711, level, encode Opus from 8 kHz.
// calls/core is 1 s / (time per op).
func BenchmarkTranscodeCall(b *testing.B) {
	pkts, phone := callFixture()
	rx, _ := NewOpusReceiver(PhoneRate)
	mix := NewMixer(PhoneFrameSamples, 3)
	toRoom, _ := NewOpusEncoder(PhoneRate)
	var (
		seq     uint16
		out8    = make([]int16, 0, PhoneFrameSamples)
		g711    = make([]byte, 0, PhoneFrameSamples)
		in8     = make([]int16, 0, PhoneFrameSamples)
		opusOut = make([]byte, 0, OpusPayloadMax)
	)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for f := range 50 {
			pcm, err := rx.Packet(seq, pkts[f])
			seq++
			if err != nil {
				b.Fatal(err)
			}
			mix.Push("speaker", pcm)
			mix.Tick()
			out8 = mix.Output(out8[:0], "")
			g711 = EncodeG711(ULaw, g711[:0], out8)

			in8 = DecodeG711(ULaw, in8[:0], phone[f])
			_ = Level(in8)
			if opusOut, err = toRoom.Encode(opusOut[:0], in8); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportCalls(b)
}

// BenchmarkTranscodeCallResampled is the same call with the codec at 48
// kHz and our FIR resampler between it and G.711: the alternative
// bridge.Conference does not take (docs/performance.md).
func BenchmarkTranscodeCallResampled(b *testing.B) {
	pkts, phone := callFixture()
	rx, _ := NewOpusReceiver(Rate)
	mix := NewMixer(FrameSamples, 3)
	down, up := NewDownsampler(), NewUpsampler()
	toRoom, _ := NewOpusEncoder(Rate)
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

			in8 = DecodeG711(ULaw, in8[:0], phone[f])
			in48 = up.Process(in48[:0], in8)
			_ = Level(in48)
			if opusOut, err = toRoom.Encode(opusOut[:0], in48); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportCalls(b)
}

// FuzzOpusReceiver: packets from the network (a browser's RTP payloads,
// any sequence numbers) never panic the receiver, and one packet yields at
// most maxConceal frames of concealment plus 120 ms of audio.
func FuzzOpusReceiver(f *testing.F) {
	enc, _ := NewOpusEncoder(Rate)
	good, _ := enc.Encode(nil, Tone(nil, 440, Rate, 0, FrameSamples, 0.3))
	f.Add(uint16(1), good)
	f.Add(uint16(3), []byte{0xfc, 0xff, 0xfe})
	f.Add(uint16(0), []byte{})
	f.Fuzz(func(t *testing.T, seq uint16, payload []byte) {
		rx, err := NewOpusReceiver(PhoneRate)
		if err != nil {
			t.Fatal(err)
		}
		rx.Packet(0, good)
		pcm, _ := rx.Packet(seq, payload)
		if max := (maxConceal + 6) * PhoneFrameSamples; len(pcm) > max {
			t.Fatalf("%d samples from one packet", len(pcm))
		}
	})
}
