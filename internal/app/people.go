package app

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"switchboard/internal/account"
	"switchboard/internal/auth"
	"switchboard/internal/chat"
	"switchboard/internal/contact"
	"switchboard/internal/protocol"
	"switchboard/internal/push"
	"switchboard/internal/room"
	"switchboard/internal/store"
	"switchboard/internal/webhook"
)

// callKeyID names the key that signs the tokens of calls between people. Its
// secret lives in memory only: a call does not outlive the process.
const callKeyID = "SBCALLS"

// startPeople builds accounts and messaging (issue "people and messages").
func (a *App) startPeople() error {
	var err error
	a.callKey = make([]byte, 32)
	rand.Read(a.callKey)
	sso, err := a.oidcConfig()
	if err != nil {
		return err
	}
	a.accounts, err = account.New(account.Config{Store: a.store, Secure: strings.HasPrefix(a.cfg.PublicURL, "https:"),
		PublicURL: a.cfg.PublicURL, Logger: a.log, OIDC: sso,
		Ended: a.credentialEnded, Guest: func(ctx context.Context, id string) (store.User, error) {
			return directory{a}.User(ctx, id)
		}})
	if err != nil {
		return err
	}
	// Push services want a contact for the operator: the public https URL,
	// or the configured address.
	subject := a.cfg.Chat.PushContact
	if subject == "" && strings.HasPrefix(a.cfg.PublicURL, "https://") {
		subject = a.cfg.PublicURL
	}
	if subject == "" {
		subject = "mailto:admin@localhost"
	}
	ctx := context.Background()
	if a.push, err = push.New(ctx, a.store, push.Config{Subject: subject, Registry: a.metrics.reg, Logger: a.log}); err != nil {
		return err
	}
	if a.hooks, err = webhook.New(ctx, a.store, webhook.Config{AllowPrivate: a.cfg.Chat.WebhooksAllowPrivate,
		EventTypes: append([]string{webhook.EventMessageCreated}, contact.EventTypes...),
		Registry:   a.metrics.reg, Logger: a.log}); err != nil {
		return err
	}
	a.chat = chat.New(chat.Config{Store: a.store, Directory: directory{a}, Rooms: callRooms{a}, Phones: sipPhones{a},
		ContactPhones: contactPhones{a}, // sip_queue.go
		ClickToCall:   func(ctx context.Context, v chat.Identity) (string, error) { return a.contact.ClickToCall(ctx, v) },
		Notifier:      pushNotifier{a.push}, Hooks: messageHooks{a.hooks},
		PresenceOff: !a.cfg.Chat.Presence, PushText: a.cfg.Chat.PushText, Retention: a.cfg.Chat.Retention,
		LiveCredentials: a.store.LiveCredentials, Logger: a.log})
	a.contact, err = contact.New(ctx, contact.Config{Store: a.store, Chat: a.chat, Logger: a.log,
		Publish: a.contactEvents(), CanCall: a.canClickToCall, Phones: queuePhones{a},
		CheckPhone: a.checkCallbackPhone, CanCallBack: a.canCallBack})
	return err
}

// directory finds the people of conversations: accounts, and the website
// visitors talking to agents.
type directory struct{ a *App }

func (d directory) User(ctx context.Context, id string) (store.User, error) {
	if strings.HasPrefix(id, "v-") && d.a.contact != nil {
		return d.a.contact.VisitorUser(ctx, id)
	}
	return d.a.accounts.User(ctx, id)
}

func (d directory) UserByUsername(ctx context.Context, name string) (store.User, error) {
	return d.a.accounts.UserByUsername(ctx, name)
}

// messagingAuth lets a signed-in person, or a website visitor with their
// token, use messaging: the visitor's token comes in the Authorization
// header or, for the socket (a browser cannot set its headers), as the
// access_token query parameter. The messaging service limits what a visitor
// may do.
func (a *App) messagingAuth(h func(w http.ResponseWriter, r *http.Request, me chat.Identity)) http.HandlerFunc {
	signedIn := a.signedIn(h)
	return func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if q := r.URL.Query().Get("access_token"); tok == "" && q != "" && r.URL.Path == "/api/v1/connect" {
			tok = q
		}
		if !strings.HasPrefix(tok, contact.VisitorTokenPrefix) {
			signedIn(w, r)
			return
		}
		_, me, err := a.contact.AuthenticateVisitor(r.Context(), tok)
		if err != nil {
			if errors.Is(err, contact.ErrBadToken) {
				chat.WriteError(w, protocol.Errorf(protocol.CodeUnauthorized, "the visitor token is unknown or expired"))
				return
			}
			a.log.Error("visitor token", "err", err)
			chat.WriteError(w, protocol.Errorf(protocol.CodeInternal, "request failed"))
			return
		}
		h(w, r, me)
	}
}

// credentialEnded closes the sockets opened with a credential that ended.
func (a *App) credentialEnded(user, credential string) {
	if a.chat != nil {
		a.chat.Disconnect(user, credential)
	}
}

// oidcConfig is the single sign-on configuration for accounts, or nil when it is off.
func (a *App) oidcConfig() (*account.OIDCConfig, error) {
	o := a.cfg.OIDC
	if !o.Enabled() {
		return nil, nil
	}
	secret, err := o.Secret()
	if err != nil {
		return nil, err
	}
	return &account.OIDCConfig{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: secret, Scopes: o.Scopes,
		Name: o.Name, Role: o.Role, ExistingOnly: !o.CreateUsers, AllowUnverifiedEmail: o.AllowUnverifiedEmail}, nil
}

// pushNotifier sends the messaging service's notifications as Web Push.
type pushNotifier struct{ p *push.Service }

func (n pushNotifier) Notify(ctx context.Context, user string, c chat.Notification) {
	pn := push.Notification{Type: push.Type(c.Type), Title: c.Title, Body: c.Body, URL: c.URL, Tag: c.Tag,
		ConversationID: c.Conversation, TTL: push.MessageTTL, Urgency: push.UrgencyNormal}
	if c.Urgent {
		pn.TTL, pn.Urgency = push.CallTTL, push.UrgencyHigh
	}
	n.p.Notify(ctx, user, pn)
}

// messageHooks feeds new messages to the outgoing webhooks.
type messageHooks struct{ d *webhook.Dispatcher }

func (h messageHooks) MessageCreated(conv store.Conversation, e protocol.Entry) {
	h.d.Publish(webhook.Event{Type: webhook.EventMessageCreated, Conversation: conv.ID, Data: map[string]any{
		"conversation": map[string]string{"id": conv.ID, "kind": conv.Kind, "name": conv.Name},
		"message":      e,
	}})
}

// identity converts a signed-in account to the messaging service's view.
func identity(id account.Identity) chat.Identity {
	return chat.Identity{UserID: id.UserID, Username: id.Username, DisplayName: id.DisplayName, Role: id.Role, Session: id.SessionID}
}

// signedIn adapts the accounts' authentication to messaging handlers.
func (a *App) signedIn(h func(w http.ResponseWriter, r *http.Request, me chat.Identity)) http.HandlerFunc {
	return a.accounts.Require(func(w http.ResponseWriter, r *http.Request, id account.Identity) {
		h(w, r, identity(id))
	})
}

// peopleRoutes registers the endpoints of accounts, messaging, push and webhooks.
func (a *App) peopleRoutes(mux *http.ServeMux) {
	a.accounts.Routes(mux)
	a.sipRoutes(mux)
	a.chat.Routes(mux, a.messagingAuth, a.cfg.AllowedOrigins)
	a.contact.Routes(mux, a.signedIn, func(r *http.Request) string {
		host, _, err := net.SplitHostPort(r.RemoteAddr) // the client, behind trusted proxies too
		if err != nil {
			return r.RemoteAddr
		}
		return host
	})
	a.push.Routes(mux, func(w http.ResponseWriter, r *http.Request) (string, bool) {
		id, ok := a.whoIs(w, r)
		return id.UserID, ok
	})
	a.hooks.Routes(mux, func(w http.ResponseWriter, r *http.Request) (string, bool, bool) {
		id, ok := a.whoIs(w, r)
		return id.UserID, id.IsAdmin(), ok
	})
}

// whoIs authenticates r, answering it with the error when that fails.
func (a *App) whoIs(w http.ResponseWriter, r *http.Request) (account.Identity, bool) {
	var who account.Identity
	ok := false
	a.accounts.Require(func(_ http.ResponseWriter, _ *http.Request, id account.Identity) { who, ok = id, true })(w, r)
	return who, ok
}

// conversationFiles lets members share files in their conversations.
func (a *App) conversationFiles(w http.ResponseWriter, r *http.Request, conv string) (string, bool) {
	var room string
	ok := false
	a.messagingAuth(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		check := a.chat.CheckMember
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			check = a.chat.CheckWritable // no uploads to an archived conversation
		}
		if err := check(r.Context(), me, conv); err != nil {
			chat.WriteError(w, err)
			return
		}
		room, ok = chat.FileRoom(conv), true
	})(w, r)
	return room, ok
}

// callRooms gives calls between people their meeting rooms.
type callRooms struct{ a *App }

func (c callRooms) CreateRoom(ctx context.Context, p2p bool) (string, error) {
	r, err := c.a.registry.Create(ctx, room.Settings{P2P: p2p, Call: true})
	if err != nil {
		return "", err
	}
	return r.ID(), nil
}

func (c callRooms) Participants(id string) int {
	r, ok := c.a.registry.Get(id)
	if !ok {
		return -1
	}
	return r.Members()
}

// JoinToken lets a party of a call join its room (rooms may be closed to
// joins without a token) under their own name.
func (c callRooms) JoinToken(id string, me chat.Identity) (string, error) {
	now := time.Now()
	return auth.Mint(callKeyID, c.a.callKey, auth.Claims{Identity: "user:" + me.UserID, Name: me.DisplayName, Room: id,
		Join: true, Publish: true, Subscribe: true, IssuedAt: now, ExpiresAt: now.Add(4 * time.Hour)})
}
