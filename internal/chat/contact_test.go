package chat

import (
	"testing"

	"switchboard/internal/protocol"
)

// A website visitor talks in their own conversation and nowhere else: no
// conversations of their own, no channels, nobody else's conversation; they
// may call the one person they talk with, not a whole team.
func TestVisitorLimits(t *testing.T) {
	h := newHarness(t, options{})
	ctx := t.Context()
	vera, ann, bob := h.user("vera", "member"), h.user("ann", "agent"), h.user("bob", "agent")
	visitor := Identity{UserID: vera.ID, DisplayName: "Vera", Role: RoleVisitor}
	mine, err := h.svc.OpenContact(ctx, visitor, "Vera · Sales")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.svc.JoinContact(ctx, mine.ID, Identity{UserID: ann.ID}); err != nil {
		t.Fatal(err)
	}
	team, err := h.svc.OpenContact(ctx, visitor, "Vera · Support")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.svc.AddToContact(ctx, team.ID, vera.ID, []string{ann.ID, bob.ID}); err != nil {
		t.Fatal(err)
	}
	a := h.connect(ann)
	other := a.req(t, &protocol.CreateConversation{Kind: "group", Name: "agents", Members: []string{bob.ID}}).(*protocol.ConversationMsg).Conversation

	m, err := h.dialAs(vera, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Drop)
	d := &device_{Messenger: m, user: vera}
	d.req(t, &protocol.Send{Conversation: mine.ID, Txn: "1", Text: "hello"})
	for name, msg := range map[string]protocol.Message{
		"create":        &protocol.CreateConversation{Kind: "group", Name: "mine", Members: []string{ann.ID}},
		"direct":        &protocol.Direct{User: ann.ID},
		"channels":      &protocol.Channels{},
		"invite":        &protocol.Invite{Conversation: mine.ID, Users: []string{bob.ID}},
		"rename":        &protocol.UpdateConversation{Conversation: mine.ID, Name: ptr("x")},
		"search":        &protocol.Search{Query: "hello"},
		"call a user":   &protocol.StartCall{User: ann.ID},
		"call the team": &protocol.StartCall{Conversation: team.ID},
		"call a phone":  &protocol.StartCall{Phone: "100"},
	} {
		if code := d.reqErr(t, msg); code != protocol.CodeForbidden {
			t.Errorf("a visitor's %s: %s, want forbidden", name, code)
		}
	}
	if code := d.reqErr(t, &protocol.Send{Conversation: other.ID, Txn: "2", Text: "hi"}); code == "" {
		t.Error("a visitor wrote in a conversation not theirs")
	}
	if c := d.req(t, &protocol.StartCall{Conversation: mine.ID, Video: true}).(*protocol.Calling); c.Call.ID == "" {
		t.Errorf("a visitor calling their agent: %+v", c)
	}
	// Click-to-call asks the server for the widget's phone; none here.
	if code := d.reqErr(t, &protocol.StartCall{ClickToCall: true}); code != protocol.CodeInvalidState {
		t.Errorf("click-to-call without telephones: %s", code)
	}
	if code := a.reqErr(t, &protocol.StartCall{ClickToCall: true}); code != protocol.CodeBadRequest {
		t.Errorf("click-to-call by a user: %s", code)
	}
}

func ptr[T any](v T) *T { return &v }
