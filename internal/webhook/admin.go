package webhook

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"switchboard/internal/store"
)

// Settings are what an admin chooses for a new webhook.
type Settings struct {
	URL          string
	Events       []string // event types; empty means all of Config.EventTypes
	Conversation string   // only this conversation's events; "" for all
	Disabled     bool     // create it switched off
}

// Create validates s and stores a new webhook with a random secret. The
// returned webhook carries the secret: show it to the admin once, it is not
// listed again. Input errors wrap ErrInvalid.
func (d *Dispatcher) Create(ctx context.Context, createdBy string, s Settings) (store.Webhook, error) {
	if err := validateURL(s.URL, d.cfg.AllowPrivate); err != nil {
		return store.Webhook{}, err
	}
	events, err := validateEvents(s.Events, d.cfg.EventTypes)
	if err != nil {
		return store.Webhook{}, err
	}
	if err := validateConversation(s.Conversation); err != nil {
		return store.Webhook{}, err
	}
	w, err := d.st.CreateWebhook(ctx, store.Webhook{
		ID:           randomID(),
		URL:          s.URL,
		Secret:       newSecret(),
		Events:       events,
		Conversation: s.Conversation,
		Enabled:      !s.Disabled,
		CreatedBy:    createdBy,
	})
	if err != nil {
		return store.Webhook{}, fmt.Errorf("webhook: create: %w", err)
	}
	d.reloadAfterChange(ctx)
	d.log.InfoContext(ctx, "webhook: created", "webhook", w.ID, "host", host(w.URL), "by", createdBy)
	return w, nil
}

// List returns all webhooks, oldest first, without their secrets.
func (d *Dispatcher) List(ctx context.Context) ([]store.Webhook, error) {
	all, err := d.st.Webhooks(ctx)
	if err != nil {
		return nil, fmt.Errorf("webhook: list: %w", err)
	}
	for i := range all {
		all[i].Secret = ""
	}
	return all, nil
}

// SetEnabled switches deliveries to a webhook on or off and returns it
// without its secret, or store.ErrNotFound.
func (d *Dispatcher) SetEnabled(ctx context.Context, id string, enabled bool) (store.Webhook, error) {
	if err := d.st.SetWebhookEnabled(ctx, id, enabled); err != nil {
		return store.Webhook{}, fmt.Errorf("webhook: enable: %w", err)
	}
	d.reloadAfterChange(ctx)
	w, err := d.st.Webhook(ctx, id)
	if err != nil {
		return store.Webhook{}, fmt.Errorf("webhook: enable: %w", err)
	}
	w.Secret = ""
	return w, nil
}

// Delete removes a webhook, or returns store.ErrNotFound. Its pending
// deliveries are dropped.
func (d *Dispatcher) Delete(ctx context.Context, id string) error {
	if err := d.st.DeleteWebhook(ctx, id); err != nil {
		return fmt.Errorf("webhook: delete: %w", err)
	}
	d.reloadAfterChange(ctx)
	d.log.InfoContext(ctx, "webhook: deleted", "webhook", id)
	return nil
}

// reloadAfterChange applies a change at once; if reading fails, the periodic
// reload catches up.
func (d *Dispatcher) reloadAfterChange(ctx context.Context) {
	if err := d.Reload(ctx); err != nil {
		d.log.ErrorContext(ctx, "webhook: reload", "err", err)
	}
}

// newSecret returns 256 random bits, recognisable as a webhook secret.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b)
}
