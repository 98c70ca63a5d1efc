package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"switchboard/internal/client"
	"switchboard/internal/protocol"
)

func upload(t *testing.T, a *App, room, session, name, ctype, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", a.URL()+"/api/v1/rooms/"+room+"/files?name="+name, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+session)
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestChatAndFiles(t *testing.T) {
	a := startServer(t, func(c *configT) { c.MaxUpload = 1 << 10 })
	alice := dial(t, a, "team", "Alice", nil)
	bob := dial(t, a, "team", "Bob", nil)

	reply, err := alice.Request(context.Background(), &protocol.Chat{Text: "<script>alert(1)</script> hello"})
	if err != nil {
		t.Fatal(err)
	}
	if reply.(*protocol.OK).Seq != 1 {
		t.Errorf("first message seq = %d", reply.(*protocol.OK).Seq)
	}
	m, err := bob.WaitEvent(context.Background(), func(m protocol.Message) bool { _, ok := m.(*protocol.Chat); return ok })
	if err != nil {
		t.Fatal("Bob did not get the chat message")
	}
	if got := m.(*protocol.Chat).Message; got.Text != "<script>alert(1)</script> hello" || got.Name != "Alice" || got.From != alice.Joined.Participant.ID {
		t.Errorf("Bob got %+v", got)
	}

	// Upload: only with a session token of this room; within the size limit.
	resp := upload(t, a, "team", alice.Joined.Session, "notes.html", "text/html", "<h1>hi</h1>")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %s", resp.Status)
	}
	var fi protocol.FileInfo
	json.NewDecoder(resp.Body).Decode(&fi)
	if r := upload(t, a, "team", "forged", "x.txt", "text/plain", "x"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("upload with a forged session: %s", r.Status)
	}
	if r := upload(t, a, "other-room", alice.Joined.Session, "x.txt", "text/plain", "x"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("upload into another room: %s", r.Status)
	}
	if r := upload(t, a, "team", alice.Joined.Session, "big.bin", "application/octet-stream", strings.Repeat("x", 2<<10)); r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized upload: %s", r.Status)
	}

	if _, err := alice.Request(context.Background(), &protocol.Chat{Text: "the notes", File: fi.ID}); err != nil {
		t.Fatal(err)
	}
	_, err = alice.Request(context.Background(), &protocol.Chat{Text: "bad", File: "0123456789abcdef0123456789abcdef"})
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeNotFound {
		t.Errorf("chat with an unknown file: %v", err)
	}

	// A late joiner sees the history, file included, in order.
	carol := dial(t, a, "team", "Carol", nil)
	h := carol.Joined.Chat
	if len(h) != 2 || h[0].Seq != 1 || h[1].Seq != 2 || h[1].File == nil || h[1].File.Name != "notes.html" {
		t.Fatalf("history = %+v", h)
	}
	// The download is an attachment that cannot render as HTML on our origin.
	resp, err = http.Get(a.URL() + h[1].File.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "<h1>hi</h1>" {
		t.Errorf("downloaded %q", body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("an uploaded HTML file is served as %q", ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
		t.Errorf("Content-Disposition %q", cd)
	}
}

func TestHostControlsAndLobby(t *testing.T) {
	a := startServer(t, nil)
	resp, err := http.Post(a.URL()+"/api/v1/rooms", "application/json", strings.NewReader(`{"lobby":true}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create room: %v %v", err, resp.Status)
	}
	var created struct{ ID, URL string }
	json.NewDecoder(resp.Body).Decode(&created)
	if len(created.ID) < 20 || !strings.HasSuffix(created.URL, "/m/"+created.ID) {
		t.Errorf("created %+v", created)
	}

	host := dial(t, a, created.ID, "Host", nil)
	if !host.Joined.Participant.Host || !host.Joined.Room.Lobby {
		t.Fatalf("creator should be host of a lobby room: %+v", host.Joined)
	}

	// A guest waits in the lobby until the host admits them.
	guestDone := make(chan *client.Client, 1)
	go func() {
		cl, err := client.Dial(context.Background(), a.URL(), newAPI(t), protocol.Join{Room: created.ID, Name: "Guest"}, nil)
		if err != nil {
			t.Error(err)
		}
		guestDone <- cl
	}()
	m, err := host.WaitEvent(context.Background(), func(m protocol.Message) bool { _, ok := m.(*protocol.Lobby); return ok })
	if err != nil {
		t.Fatal("host was not told someone waits")
	}
	waiting := m.(*protocol.Lobby).Participant
	if _, err := host.Request(context.Background(), &protocol.Host{Action: "admit", Participant: waiting.ID}); err != nil {
		t.Fatal(err)
	}
	guest := <-guestDone
	if guest == nil {
		t.FailNow()
	}
	defer guest.Close()
	if guest.Joined.Participant.ID != waiting.ID || guest.Joined.Participant.Host {
		t.Errorf("guest joined as %+v", guest.Joined.Participant)
	}

	// Guests cannot use host controls.
	_, err = guest.Request(context.Background(), &protocol.Host{Action: "lock"})
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeForbidden {
		t.Errorf("guest locking the room: %v", err)
	}

	// A locked room refuses newcomers.
	if _, err := host.Request(context.Background(), &protocol.Host{Action: "lock"}); err != nil {
		t.Fatal(err)
	}
	_, err = client.Dial(context.Background(), a.URL(), newAPI(t), protocol.Join{Room: created.ID, Name: "Late"}, nil)
	if !errors.As(err, &pe) || pe.Code != protocol.CodeRoomLocked {
		t.Errorf("joining a locked room: %v", err)
	}

	// Removing a participant ends their session with bye.
	if _, err := host.Request(context.Background(), &protocol.Host{Action: "remove", Participant: guest.Joined.Participant.ID}); err != nil {
		t.Fatal(err)
	}
	if m, err := guest.WaitEvent(context.Background(), func(m protocol.Message) bool { _, ok := m.(*protocol.Bye); return ok }); err != nil || m.(*protocol.Bye).Reason != "removed" {
		t.Errorf("removed guest got %v, %v", m, err)
	}
}

func TestRoomFull(t *testing.T) {
	a := startServer(t, func(c *configT) { c.Rooms.MaxParticipants = 2 })
	dial(t, a, "small", "A", nil)
	dial(t, a, "small", "B", nil)
	_, err := client.Dial(context.Background(), a.URL(), newAPI(t), protocol.Join{Room: "small", Name: "C"}, nil)
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeRoomFull {
		t.Errorf("third participant in a room of 2: %v", err)
	}
}

func TestPeerToPeerRoom(t *testing.T) {
	a := startServer(t, nil)
	resp, err := http.Post(a.URL()+"/api/v1/rooms", "application/json", strings.NewReader(`{"p2p":true}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %v %v", err, resp.Status)
	}
	var created struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&created)

	first := dial(t, a, created.ID, "First", nil)
	second := dial(t, a, created.ID, "Second", nil)
	if !second.Joined.Room.P2P || second.Joined.Room.MaxParticipants != 2 {
		t.Errorf("room info %+v", second.Joined.Room)
	}

	// Negotiation data passes between the two, unchanged and attributed.
	data := json.RawMessage(`{"sdp":{"type":"offer","sdp":"v=0"}}`)
	if _, err := second.Request(context.Background(), &protocol.Relay{To: first.Joined.Participant.ID, Data: data}); err != nil {
		t.Fatal(err)
	}
	m, err := first.WaitEvent(context.Background(), func(m protocol.Message) bool { _, ok := m.(*protocol.Relay); return ok })
	if err != nil {
		t.Fatal("relay did not arrive")
	}
	if r := m.(*protocol.Relay); r.From != second.Joined.Participant.ID || string(r.Data) != string(data) {
		t.Errorf("relayed %+v", r)
	}

	var pe *protocol.Error
	// The SFU stays out of a peer-to-peer room.
	_, err = first.Request(context.Background(), &protocol.Offer{PC: "pub", SDP: "v=0\r\n"})
	if !errors.As(err, &pe) || pe.Code != protocol.CodeInvalidState {
		t.Errorf("SFU offer in a p2p room: %v", err)
	}
	// Relaying to someone not in the room fails.
	_, err = first.Request(context.Background(), &protocol.Relay{To: "p_nobody", Data: data})
	if !errors.As(err, &pe) || pe.Code != protocol.CodeNotFound {
		t.Errorf("relay to a stranger: %v", err)
	}
	// Two is the limit.
	_, err = client.Dial(context.Background(), a.URL(), newAPI(t), protocol.Join{Room: created.ID, Name: "Third"}, nil)
	if !errors.As(err, &pe) || pe.Code != protocol.CodeRoomFull {
		t.Errorf("third participant in a p2p room: %v", err)
	}
	// Relay is refused outside peer-to-peer rooms.
	x := dial(t, a, "sfu-room", "X", nil)
	dial(t, a, "sfu-room", "Y", nil)
	_, err = x.Request(context.Background(), &protocol.Relay{To: "p_any", Data: data})
	if !errors.As(err, &pe) || pe.Code != protocol.CodeInvalidState {
		t.Errorf("relay in an SFU room: %v", err)
	}
}
