// Package routing decides which agent gets which visitor: the queues of
// customer contact (issue 5, "Queues and routing"). It is pure Go with no
// I/O, no clock and no goroutines: the widget, the agent console and the
// supervisor dashboard drive it and show what it says.
//
// # Two layers
//
// Decide is a pure function of a Snapshot (queues, agents, contacts not yet
// answered, and the small memory routing keeps: each visitor's last agent,
// each queue's round-robin cursor, today's handle times) and the time. It
// returns Decisions: offer a contact to an agent (or to several, ring all),
// overflow it, close it; none means nothing to do. Each strategy and option
// is tested on Decide alone.
//
// Engine owns a Snapshot and applies events to it: Arrive, Leave, Accept,
// Decline, End, ChangeMedia, SetAgentState, SetAgent, SetQueue, and Tick
// for what time alone does (offer timeouts, wrap-up ends, max wait, closing
// time). Each method takes now, runs Decide, applies the decisions and
// returns Events (queued, offered, answered, abandoned, overflowed, ended,
// wrap-up, ...) for webhooks, statistics and the consoles. Tests drive it
// with a fake clock.
//
// # Contacts
//
// A contact is one visitor asking for an agent by chat, voice or video. It
// is waiting, offered (to one agent, or to several under ring all), in
// progress (an Assignment of one agent), or it has left routing: ended,
// abandoned (the visitor left first), overflowed to a message, or closed
// (the queue is closed). Overflow to another queue or to a callback
// request keeps it in routing. A contact keeps its arrival time through
// overflow and requeueing, so it keeps its place in line.
//
// # Agents, states and slots
//
// Only Available agents get offers. Busy (occupied outside routing),
// Paused (a break, or automatically after Config.AutoPauseAfter missed
// offers in a row) and Offline agents get none; WrapUp is set by the engine
// for the queue's wrap-up time after a contact ends, and gets no new offers
// until it is over (or the agent says Available). Leaving Available
// withdraws the offers ringing at the agent; going Offline also puts their
// contacts in progress back in line.
//
// An agent has Profile.ChatSlots chat slots and one call slot, shared by
// voice and video. An offer takes its slot while it rings, so an agent
// never holds more contacts, answered or offered, than their slots. By
// default a call and chats go together (an agent on a call can take chats
// up to their chat slots, and can turn one of their chats into a call);
// Profile.ExclusiveCalls makes a call exclude chats and chats exclude a
// call.
//
// # Order and strategies
//
// Waiting contacts are considered in routing order: queue priority first
// (an agent in two queues serves the higher one first), then contact
// priority, then arrival (first come, first served), then id. A contact no
// agent can take is skipped and does not hold up those behind it. An agent
// can take a contact if they are a member of its queue, Available, have a
// free slot for its media, have the queue's and the contact's skills at the
// levels needed, and have not declined or missed it before. Among those,
// the queue's Strategy chooses:
//
//   - LongestIdle: oldest IdleSince (last contact ended or became available).
//   - FewestContacts: fewest contacts answered today.
//   - LeastTalkTime: least handle time today.
//   - RoundRobin: the next member after the one offered last, in member order.
//   - RingAll: everyone; the first to accept gets it, the others' offers are
//     withdrawn.
//   - WeightedRandom: at random in proportion to Member.Weight, drawn from
//     Snapshot.Seed so that a test can repeat it.
//
// The three ranking strategies first prefer the agent with fewer contacts
// in hand (answered or offered), so that a round of offers, and chat
// agents' slots, are spread evenly; their own measure, then longest idle,
// then id break ties.
//
// Sticky routing (Queue.StickyWait) is a layer over any strategy: a
// returning visitor is offered to the agent they last talked to; if that
// agent is busy, paused or in wrap-up the contact waits for them up to
// StickyWait after entering the queue, then goes to the strategy. It goes
// there at once if the agent is offline, not a member, lacks the skills or
// refused the contact.
//
// # Time limits and overflow
//
// An offer rings for the queue's OfferTimeout, then counts as missed and
// the contact goes back in line. A contact that waits MaxWait without an
// offer, or comes when MaxLength contacts already wait (those offered do
// not count; nobody already in line is put out), overflows to the queue's
// Overflow target: another queue
// (keeping its place), a message, or a callback request. A callback request
// is a voice contact that keeps the visitor's place and is exempt from
// max wait, max length and closing: it is offered when its turn comes
// while the queue is open. When a queue is closed (Hours, read on the
// queue's time zone, with Holidays), its waiting contacts and newcomers
// close, or go to AfterHours; offers already ringing stand. Overflow
// between queues may not come back round (ValidateQueues).
//
// # Position and estimated wait
//
// Waits gives each waiting contact its position among the contacts of its
// queue that take the same kind of slot, in routing order, and EstimateWait
// turns it into a time: max(0, position - free slots) * average handle
// time / serving slots, where serving slots are those of the members
// available or in wrap-up, and the average handle time is the queue's for
// today (or Queue.AssumedHandleTime before any contact ended).
package routing
