package webhook

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// Limits on webhook settings.
const (
	maxURL          = 2048
	maxEvents       = 20
	maxConversation = 200
)

// ErrInvalid is wrapped by the errors for bad webhook settings; the message
// says what is wrong.
var ErrInvalid = errors.New("invalid webhook")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// validateURL checks a webhook URL when it is created. Only http and https,
// no credentials (they would end up in logs and listings; use the signature
// to authenticate). Unless allowPrivate, addresses written as IPs or as
// "localhost" must be public; names are checked again when dialled, since
// DNS can change.
func validateURL(raw string, allowPrivate bool) error {
	if raw == "" {
		return invalid("url is missing")
	}
	if len(raw) > maxURL {
		return invalid("url is longer than %d characters", maxURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalid("url is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return invalid("url must start with http:// or https://")
	}
	if u.Hostname() == "" {
		return invalid("url has no host")
	}
	if u.User != nil {
		return invalid("url must not contain a user name or password; deliveries are signed instead")
	}
	if allowPrivate {
		return nil
	}
	h := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return invalid("url points at this server; only public addresses are allowed")
	}
	if ip, err := netip.ParseAddr(h); err == nil && !isPublic(ip) {
		return invalid("url points at a non-public address (%s); only public addresses are allowed", ip)
	}
	return nil
}

var eventName = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)

// validateEvents checks the event types a webhook subscribes to against
// those that exist, and returns them sorted without duplicates. None means
// all known types.
func validateEvents(events, known []string) ([]string, error) {
	if len(events) == 0 {
		return slices.Clone(known), nil
	}
	if len(events) > maxEvents {
		return nil, invalid("more than %d events", maxEvents)
	}
	for _, e := range events {
		if !eventName.MatchString(e) || !slices.Contains(known, e) {
			return nil, invalid("unknown event %q; known events: %s", e, strings.Join(known, ", "))
		}
	}
	out := slices.Clone(events)
	slices.Sort(out)
	return slices.Compact(out), nil
}

func validateConversation(c string) error {
	if len(c) > maxConversation {
		return invalid("conversationId is longer than %d characters", maxConversation)
	}
	if strings.IndexFunc(c, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return invalid("conversationId contains control characters")
	}
	return nil
}
