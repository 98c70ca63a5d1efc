package app

import (
	"context"
	"time"

	"switchboard/internal/chat"
)

// canClickToCall tells whether a widget's click-to-call destination can be
// called now: SIP is on and it resolves (a registered phone, or a number
// with a trunk).
func (a *App) canClickToCall(target string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := sipPhones{a}.FindPhone(ctx, chat.Identity{}, target, true)
	return err == nil
}
