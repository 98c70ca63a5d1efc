package app

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// staff creates an account of role with an API token.
func staff(t *testing.T, a *App, id, role string) string {
	t.Helper()
	ctx := context.Background()
	if err := a.store.CreateUser(ctx, store.User{ID: id, Username: id, DisplayName: strings.ToUpper(id[:1]) + id[1:], Role: role}); err != nil {
		t.Fatal(err)
	}
	tok, err := a.accounts.CreateToken(ctx, id, "test")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call makes a JSON request with a bearer token and an Origin, and decodes
// the answer into out (if not nil); it returns the status.
func call(t *testing.T, method, url, token, origin, body string, out any) int {
	t.Helper()
	h := http.Header{"Content-Type": {"application/json"}}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	if origin != "" {
		h.Set("Origin", origin)
	}
	resp := send(t, method, url, h, body)
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return resp.StatusCode
}

// inbox collects the events a messaging socket receives.
type inbox struct {
	mu   sync.Mutex
	msgs []protocol.Message
}

func (b *inbox) add(m protocol.Message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
}

// wait returns the first message matching f, waiting up to 5 s.
func (b *inbox) wait(t *testing.T, what string, f func(protocol.Message) bool) protocol.Message {
	t.Helper()
	var found protocol.Message
	waitFor(t, what, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, m := range b.msgs {
			if f(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

func contactEvent(event, status string) func(protocol.Message) bool {
	return func(m protocol.Message) bool {
		c, ok := m.(*protocol.ContactMsg)
		return ok && c.Event == event && (status == "" || (c.Contact != nil && c.Contact.Status == status))
	}
}

// The whole path of a website visitor through the server: the widget on an
// allowed site learns an agent is available, the visitor starts a chat and
// is offered to the agent with their page, the agent accepts and joins the
// conversation, they exchange messages, the agent ends and wraps up, and
// the supervisor's statistics and CSV count it. Along the way: another
// site, a forged token and a visitor reaching beyond their conversation are
// refused.
func TestVisitorReachesAgent(t *testing.T) {
	a := startServer(t, nil)
	api := a.URL() + "/api/v1/contact"
	const shop = "https://shop.example"
	ann := staff(t, a, "ann", "admin")
	alex := staff(t, a, "alex", "agent")

	if code := call(t, "PUT", api+"/queues/sales", ann, "", `{"name":"Sales","members":[{"user":"alex"}],"offerTimeoutSeconds":30}`, nil); code != 200 {
		t.Fatalf("create queue: %d", code)
	}
	if code := call(t, "PUT", api+"/queues/bad", ann, "", `{"name":"Bad","strategy":"loudest"}`, nil); code != 400 {
		t.Fatalf("a queue with an unknown strategy: %d, want 400", code)
	}
	if code := call(t, "PUT", api+"/widgets/site", ann, "", `{"queue":"sales","title":"Talk to sales","allowedOrigins":["`+shop+`"]}`, nil); code != 200 {
		t.Fatalf("create widget: %d", code)
	}
	if code := call(t, "PUT", api+"/widgets/site", alex, "", `{"queue":"sales"}`, nil); code != 403 {
		t.Fatalf("an agent configuring a widget: %d, want 403", code)
	}

	// The widget, before and after the agent is available.
	var st struct {
		Open      bool            `json:"open"`
		Available map[string]bool `json:"available"`
	}
	if code := call(t, "GET", api+"/widgets/site/status", "", "https://evil.example", "", nil); code != 403 {
		t.Fatalf("status from a site not on the list: %d, want 403", code)
	}
	if code := call(t, "GET", api+"/widgets/site/status", "", shop, "", &st); code != 200 || !st.Open || st.Available["chat"] {
		t.Fatalf("status with the agent offline: %d %+v", code, st)
	}
	agentBox := &inbox{}
	h := http.Header{"Authorization": {"Bearer " + alex}, "Origin": {a.URL()}}
	m, err := client.DialMessenger(t.Context(), "ws"+strings.TrimPrefix(a.URL(), "http")+"/api/v1/connect", h, agentBox.add)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Drop)
	var me protocol.AgentView
	if code := call(t, "PUT", api+"/agent/state", alex, "", `{"state":"available"}`, &me); code != 200 || me.State != "available" || len(me.Queues) != 1 {
		t.Fatalf("agent available: %d %+v", code, me)
	}
	if call(t, "GET", api+"/widgets/site/status", "", shop, "", &st); !st.Available["chat"] || !st.Available["video"] {
		t.Fatalf("status with the agent available: %+v", st)
	}

	// The visitor.
	var started struct {
		Token   string `json:"token"`
		Visitor struct{ ID, Name string }
	}
	if code := call(t, "POST", api+"/widgets/site/visitors", "", "https://evil.example", `{"name":"Vera"}`, nil); code != 403 {
		t.Fatalf("a visitor from a site not on the list: %d, want 403", code)
	}
	if code := call(t, "POST", api+"/widgets/site/visitors", "", shop, `{"name":"Vera <script>","email":"vera@example.com"}`, &started); code != 201 {
		t.Fatalf("start visitor: %d", code)
	}
	vera := started.Token
	if code := call(t, "GET", api+"/visitor/contact", "sbv_forged", shop, "", nil); code != 401 {
		t.Fatalf("a forged visitor token: %d, want 401", code)
	}
	if code := call(t, "GET", a.URL()+"/api/v1/conversations", vera, shop, "", nil); code != 200 {
		t.Fatalf("a visitor's inbox: %d", code)
	}
	if code := call(t, "POST", a.URL()+"/api/v1/conversations", vera, shop, `{"kind":"group","name":"mine","members":["alex"]}`, nil); code != 403 {
		t.Fatalf("a visitor creating a conversation: %d, want 403", code)
	}
	if code := call(t, "GET", a.URL()+"/api/v1/auth/session", vera, shop, "", nil); code == 200 {
		t.Fatal("a visitor token signed in to the accounts API")
	}

	visitorBox := &inbox{}
	wsURL := "ws" + strings.TrimPrefix(a.URL(), "http") + "/api/v1/connect?access_token=" + url.QueryEscape(vera)
	if _, err := client.DialMessenger(t.Context(), wsURL, http.Header{"Origin": {"https://evil.example"}}, nil); err == nil {
		t.Fatal("a visitor's socket opened from a site not on the list")
	}
	vm, err := client.DialMessenger(t.Context(), wsURL, http.Header{"Origin": {shop}}, visitorBox.add)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Drop)

	var c protocol.ContactView
	if code := call(t, "POST", api+"/visitor/contacts", vera, shop, `{"media":"chat","page":"https://shop.example/pricing","referrer":"https://search.example/"}`, &c); code != 201 {
		t.Fatalf("arrive: %d", code)
	}
	if c.Conversation == "" || (c.Status != "offered" && c.Status != "waiting") {
		t.Fatalf("arrived: %+v", c)
	}
	var again protocol.ContactView
	if call(t, "POST", api+"/visitor/contacts", vera, shop, `{"media":"chat"}`, &again); again.ID != c.ID {
		t.Fatalf("asking again (a reload) made a second contact: %s and %s", c.ID, again.ID)
	}
	offer := agentBox.wait(t, "the offer at the agent", contactEvent("offer", "")).(*protocol.ContactMsg)
	if offer.Contact.ID != c.ID || offer.Contact.Page != "https://shop.example/pricing" || offer.Contact.Visitor.Name != "Vera <script>" ||
		offer.Contact.Visitor.Email != "vera@example.com" || offer.Contact.OfferUntil == "" {
		t.Fatalf("offer: %+v", offer.Contact)
	}
	if code := call(t, "POST", api+"/contacts/"+c.ID+"/accept", alex, "", "", &c); code != 200 || c.Status != "in_progress" || c.Agent != "alex" {
		t.Fatalf("accept: %d %+v", code, c)
	}
	if code := call(t, "POST", api+"/contacts/"+c.ID+"/accept", alex, "", "", nil); code != 409 {
		t.Fatalf("accepting twice: %d, want 409", code)
	}
	visitorBox.wait(t, "the visitor told the agent answered", contactEvent("update", "in_progress"))

	// The agent's people see the visitor's name.
	var who struct{ DisplayName, Role string }
	if code := call(t, "GET", a.URL()+"/api/v1/users/"+started.Visitor.ID, alex, "", "", &who); code != 200 || who.DisplayName != "Vera <script> (visitor)" || who.Role != "visitor" {
		t.Fatalf("the visitor in the directory: %d %+v", code, who)
	}

	// They talk, in the contact's conversation.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := vm.Request(ctx, &protocol.Send{Conversation: c.Conversation, Txn: "t1", Text: "How much is the big one?"}); err != nil {
		t.Fatal(err)
	}
	agentBox.wait(t, "the visitor's message at the agent", func(m protocol.Message) bool {
		e, ok := m.(*protocol.EventMsg)
		return ok && e.Entry.Conversation == c.Conversation && strings.Contains(e.Entry.Text, "big one")
	})
	if _, err := m.Request(ctx, &protocol.Send{Conversation: c.Conversation, Txn: "t2", Text: "42 euros"}); err != nil {
		t.Fatal(err)
	}
	visitorBox.wait(t, "the agent's answer at the visitor", func(m protocol.Message) bool {
		e, ok := m.(*protocol.EventMsg)
		return ok && strings.Contains(e.Entry.Text, "42 euros")
	})
	for _, msg := range []protocol.Message{&protocol.Direct{User: "alex"}, &protocol.Channels{},
		&protocol.Invite{Conversation: c.Conversation, Users: []string{"ann"}}} {
		_, err := vm.Request(ctx, msg)
		if e, ok := err.(*protocol.Error); !ok || e.Code != protocol.CodeForbidden {
			t.Fatalf("a visitor's %s: %v, want forbidden", msg.TypeName(), err)
		}
	}

	// The end, the wrap-up, and the figures.
	if code := call(t, "POST", api+"/contacts/"+c.ID+"/end", alex, "", "", nil); code != 200 {
		t.Fatalf("end: %d", code)
	}
	visitorBox.wait(t, "the visitor told it ended", contactEvent("update", "ended"))
	if code := call(t, "POST", api+"/contacts/"+c.ID+"/wrapup", alex, "", `{"code":"sale","notes":"wants the big one"}`, &c); code != 200 || c.WrapUpCode != "sale" {
		t.Fatalf("wrap-up: %d %+v", code, c)
	}
	var rep struct {
		Totals struct {
			Arrived, Answered int
			AnswerRate        float64 `json:"answerRate"`
		}
		Buckets []json.RawMessage
	}
	if code := call(t, "GET", api+"/stats?bucket=day", ann, "", "", &rep); code != 200 || rep.Totals.Arrived != 1 || rep.Totals.Answered != 1 || rep.Totals.AnswerRate != 1 || len(rep.Buckets) != 7 {
		t.Fatalf("stats: %d %+v", code, rep)
	}
	resp := request(t, "GET", api+"/stats?bucket=hour&format=csv", ann, "")
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" || rows[0][0] != "start" || rows[len(rows)-1][0] != "total" || rows[len(rows)-1][2] != "1" {
		t.Fatalf("csv: %v %v", rows, err)
	}
	resp = request(t, "GET", a.URL()+"/metrics", "", "")
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`switchboard_contact_events_total{type="answered"} 1`, `switchboard_contact_events_total{type="wrapup"} 1`,
		`switchboard_contact_agents{state="available"}`, `switchboard_contact_contacts{queue="sales",state="waiting"} 0`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if code := call(t, "GET", api+"/stats", alex, "", "", nil); code != 403 {
		t.Fatalf("an agent reading the statistics: %d, want 403", code)
	}
	// The visitor's conversation is read-only now.
	if _, err := vm.Request(ctx, &protocol.Send{Conversation: c.Conversation, Txn: "t3", Text: "hello?"}); err == nil {
		t.Fatal("a visitor sent after the end")
	} else if e, ok := err.(*protocol.Error); !ok || e.Code != protocol.CodeInvalidState {
		t.Fatalf("sending after the end: %v", err)
	}
}

// Bad input at the visitor API gets clear refusals, and a visitor flooding
// it does not keep others out: oversized and malformed bodies, unknown
// fields, a visitor token on the agents' and admins' endpoints, and too
// many new visitors from one address.
func TestVisitorBadInput(t *testing.T) {
	a := startServer(t, nil)
	api := a.URL() + "/api/v1/contact"
	ann := staff(t, a, "ann", "admin")
	staff(t, a, "alex", "agent")
	call(t, "PUT", api+"/queues/sales", ann, "", `{"name":"Sales","members":[{"user":"alex"}]}`, nil)
	call(t, "PUT", api+"/widgets/site", ann, "", `{"queue":"sales","allowedOrigins":["https://shop.example"]}`, nil)
	var v struct{ Token string }
	if code := call(t, "POST", api+"/widgets/site/visitors", "", "https://shop.example", `{"name":"Vera"}`, &v); code != 201 {
		t.Fatalf("start: %d", code)
	}
	for _, tc := range []struct {
		method, path, token, body string
		want                      int
	}{
		{"POST", "/visitor/contacts", v.Token, `{"media":"chat","page":"` + strings.Repeat("x", 40<<10) + `"}`, 413},
		{"POST", "/visitor/contacts", v.Token, `{"media":"chat",`, 400},
		{"POST", "/visitor/contacts", v.Token, `{"media":"chat","admin":true}`, 400},
		{"POST", "/visitor/contacts", v.Token, `{"media":"fax"}`, 400},
		{"POST", "/visitor/contacts", "sbv_" + strings.Repeat("A", 43), `{"media":"chat"}`, 401},
		{"GET", "/agent", v.Token, "", 401},
		{"GET", "/live", v.Token, "", 401},
		{"PUT", "/queues/sales", v.Token, `{"name":"Mine"}`, 401},
		{"POST", "/widgets/nope/visitors", "", `{}`, 404},
	} {
		if code := call(t, tc.method, api+tc.path, tc.token, "https://shop.example", tc.body, nil); code != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, code, tc.want)
		}
	}
	// One address may start 10 visitors a minute; the 11th waits.
	codes := map[int]int{}
	for range 12 {
		codes[call(t, "POST", api+"/widgets/site/visitors", "", "https://shop.example", `{}`, nil)]++
	}
	if codes[201] != 9 || codes[429] != 3 { // one was started above
		t.Errorf("12 more visitors from one address: %v, want 9 started and 3 refused", codes)
	}
	// The visitor who got in still works.
	var c protocol.ContactView
	if code := call(t, "POST", api+"/visitor/contacts", v.Token, "https://shop.example", `{"media":"chat"}`, &c); code != 201 {
		t.Errorf("the first visitor after the flood: %d", code)
	}
}
