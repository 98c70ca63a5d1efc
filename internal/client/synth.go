package client

import (
	"context"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// SynthVideo sends VP8-shaped RTP at fps frames per second, packetsPerFrame packets a frame, with a
// keyframe every keyEvery frames, until ctx ends. The payload is not decodable video, but carries
// the VP8 payload descriptor and keyframe bit the SFU reads, and a frame counter for checks.
func SynthVideo(ctx context.Context, t *webrtc.TrackLocalStaticRTP, fps, packetsPerFrame, keyEvery, size int) {
	tick := time.NewTicker(time.Second / time.Duration(fps))
	defer tick.Stop()
	var seq uint16
	var ts uint32
	payload := make([]byte, size)
	for frame := 0; ; frame++ {
		for i := 0; i < packetsPerFrame; i++ {
			payload[0] = 0x00
			if i == 0 {
				payload[0] = 0x10 // S bit: start of partition 0
			}
			// VP8 payload header: bit 0 of the first byte is 0 for a keyframe.
			payload[1] = 0x01
			if frame%keyEvery == 0 {
				payload[1] = 0x00
			}
			payload[2], payload[3] = byte(frame>>8), byte(frame)
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts,
				Marker: i == packetsPerFrame-1}, Payload: payload}
			seq++
			if err := t.WriteRTP(&pkt); err != nil {
				return
			}
		}
		ts += 90000 / uint32(fps)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// SynthAudio sends Opus-shaped RTP every 20 ms until ctx ends.
func SynthAudio(ctx context.Context, t *webrtc.TrackLocalStaticRTP, size int) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var seq uint16
	var ts uint32
	payload := make([]byte, size)
	for {
		payload[0] = 0xfc // a plausible Opus TOC byte
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: ts}, Payload: payload}
		if err := t.WriteRTP(&pkt); err != nil {
			return
		}
		seq++
		ts += 960
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
