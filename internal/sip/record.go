package sip

import "time"

// CallRecord describes one SIP call leg once it has ended: a call detail
// record. The gateway hands each to Config.OnRecord; the app stores them
// for admins and for people's call history.
type CallRecord struct {
	CallID    string // the SIP Call-ID
	Direction string // RecordInbound (the phone or trunk called us) or RecordOutbound
	From      string // the caller: an extension, a number, or a user's name
	FromName  string // the caller's display name, when known
	To        string // what was called: an extension, a number, or a user's name
	Trunk     string // the trunk's id for calls over a trunk, "" for registered phones

	Started  time.Time // the INVITE came or went
	Answered time.Time // zero when never answered
	Ended    time.Time

	Outcome string // one of the Outcome constants
	Status  int    // the final SIP status (200 when answered)
	Cause   string // why it ended: remote-hangup, local-hangup, cancelled, no-ack, media-timeout, ...

	Codec           string  // PCMU, PCMA or G722; "" when never answered
	PacketsSent     uint64  // RTP packets sent to the phone
	PacketsReceived uint64  // RTP packets received from it
	PacketsLost     uint64  // by the sequence numbers received
	JitterMillis    float64 // interarrival jitter of received RTP (RFC 3550 A.8), at the end
}

// Directions of a CallRecord.
const (
	RecordInbound  = "inbound"
	RecordOutbound = "outbound"
)

// Outcomes of a CallRecord.
const (
	OutcomeAnswered  = "answered"
	OutcomeBusy      = "busy"
	OutcomeNoAnswer  = "no_answer"
	OutcomeRejected  = "rejected"
	OutcomeCancelled = "cancelled"
	OutcomeFailed    = "failed"
)
