package chat

import (
	"testing"

	"switchboard/internal/protocol"
)

// People who start sharing a conversation learn each other's current
// presence at once. Presence frames carry changes only: without the
// introduction, two people online before their first conversation would
// see each other as offline until one of them changed status.
func TestPresenceOfNewContacts(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob, carol := h.user("alice", "member"), h.user("bob", "member"), h.user("carol", "member")
	a, b, c := h.connect(alice), h.connect(bob), h.connect(carol)
	own := func(id string) func(protocol.Message) bool {
		return func(m protocol.Message) bool {
			p, ok := m.(*protocol.PresenceMsg)
			return ok && p.Users[id].Status == protocol.StatusAvailable
		}
	}
	// Each has seen their own presence flushed: nothing is pending any more.
	a.wait(t, "alice's own presence", own(alice.ID))
	b.wait(t, "bob's own presence", own(bob.ID))
	c.wait(t, "carol's own presence", own(carol.ID))

	a.req(t, &protocol.Direct{User: bob.ID})
	b.wait(t, "alice available, introduced", own(alice.ID))
	a.wait(t, "bob available, introduced", own(bob.ID))

	// A group: carol, new to both, meets both; they meet her.
	a.req(t, &protocol.CreateConversation{Kind: "group", Name: "trio", Members: []string{bob.ID, carol.ID}})
	c.wait(t, "alice, introduced", own(alice.ID))
	c.wait(t, "bob, introduced", own(bob.ID))
	b.wait(t, "carol, introduced", own(carol.ID))
}
