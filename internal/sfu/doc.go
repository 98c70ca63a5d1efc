// Package sfu is the media plane: it forwards RTP from publishers to
// subscribers. It knows nothing of rooms or signalling.
//
// A Track is one published track with up to three simulcast layers (RIDs q,
// h, f; low to high). It owns one packet cache per layer, shared by all its
// subscribers, and fans every packet out to its DownTracks. A DownTrack is
// one subscriber's copy of a Track; it implements webrtc.TrackLocal, picks a
// layer (bandwidth estimate from REMB, render size from SetViewport), and
// rewrites SSRC, sequence numbers, timestamps and VP8/VP9 picture IDs so the
// subscriber sees one continuous stream across layer switches and pauses.
//
// # Goroutines
//
//   - One read loop per published layer (Track.AddLayer), and possibly a
//     second input (Track.Input: the media socket's own SRTP path, which
//     calls it from the socket's read goroutine); the layer's mutex
//     serialises the two. Per packet: parse into a reused header, insert
//     into the layer's cache, then for each DownTrack of the copy-on-write subscriber
//     list: munge under the DownTrack's mutex, write outside it, all between
//     Hold and Release of TrackOptions.Batch so the copies leave in one
//     system call. A DownTrack that starts is first sent the layer's latest
//     keyframe and what followed it, from the cache (DownTrack.replay).
//     Nothing on this path allocates (see BenchmarkForward) and nothing waits
//     on a subscriber except its (UDP) write.
//   - One RTCP loop per DownTrack (DownTrack.HandleRTCP): NACK is answered
//     from the shared cache, PLI/FIR become a throttled keyframe request,
//     REMB feeds the layer choice.
//   - The caller's goroutines: Subscribe, SetViewport, Close.
//
// # Locks
//
// Every lock but one is a leaf: no code path holds two of them at once. The
// exception is a layer's input mutex, the outermost: it is held while one
// packet is handled, across the DownTracks' locks, the cache's, and their
// writes (which may take the Writer's own lock, or block like a UDP write).
// No other lock is held across a network write or a callback.
//
//   - layerState.in serialises the handling of one layer's packets (its read
//     loop and Track.Input).
//   - Track.mu serialises writers of the subscriber list (Subscribe, Close);
//     read loops load the list through an atomic.Pointer and never lock.
//   - DownTrack.mu guards the munger and the layer state; held for O(1)
//     bookkeeping per packet.
//   - packetCache.mu (one per layer) is held for one packet copy, by the
//     layer's read loop to insert and by RTCP loops to answer a NACK.
//
// Keyframe throttles, layer statistics, the binding and the metrics are
// atomics.
//
// # What the PeerConnections must provide
//
// Subscribe PC: negotiate goog-remb, nack, nack pli and ccm fir feedback for
// video, and abs-send-time (video) so the browser's REMB is accurate; do not
// negotiate transport-cc there (the browser would stop sending REMB), and do
// not register pion's NACK responder (the DownTrack answers NACKs from the
// shared cache; the responder would keep a second copy per subscriber) or its
// sender-report interceptor: write SenderReports to the connection about once
// a second instead. A DownTrack may be given a Writer (UseWriter) that sends
// by another path than pion's, falling back to pion when it cannot.
// Retransmissions go on the RTX stream if video/rtx is negotiated, else on
// the media SSRC. Publish PC: register the mid/rid/repaired-rid header
// extensions for simulcast and pion's NACK generator so lost publisher
// packets are recovered before they are forwarded (or, when packets bypass
// pion, equivalent feedback: rtc.Feedback); pass the negotiated
// audio-level extension id in TrackOptions.
package sfu
