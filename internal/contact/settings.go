package contact

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"switchboard/internal/contact/routing"
)

// The settings an admin writes (docs/contact.md, "Configuration"): queues,
// widgets and agent profiles, as JSON documents. Durations are whole
// seconds, times of day "HH:MM", so that a person can write them.

// QueueDoc is a queue as the API reads and writes it.
type QueueDoc struct {
	ID                  string         `json:"id"`
	Name                string         `json:"name"`
	Priority            int            `json:"priority"`
	Strategy            string         `json:"strategy"`
	Members             []MemberDoc    `json:"members"`
	Skills              map[string]int `json:"skills,omitempty"`
	Media               []string       `json:"media"`
	StickyWaitSeconds   int            `json:"stickyWaitSeconds"`
	OfferTimeoutSeconds int            `json:"offerTimeoutSeconds"`
	WrapUpSeconds       int            `json:"wrapUpSeconds"`
	MaxWaitSeconds      int            `json:"maxWaitSeconds"`
	MaxLength           int            `json:"maxLength"`
	Overflow            OverflowDoc    `json:"overflow"`
	AfterHours          OverflowDoc    `json:"afterHours"`
	Hours               *HoursDoc      `json:"hours"`
	// ServiceLevelSeconds is the answer time the service level counts
	// against (the share of contacts answered within it) [20].
	ServiceLevelSeconds int `json:"serviceLevelSeconds"`
	// WrapUpCodes are the outcomes agents choose from when they wrap up
	// ("sale", "no answer"); none lets them write their own.
	WrapUpCodes []string `json:"wrapUpCodes,omitempty"`
}

// MemberDoc is an agent serving a queue.
type MemberDoc struct {
	User   string `json:"user"`
	Weight int    `json:"weight,omitempty"`
}

// OverflowDoc is where contacts go when a queue cannot serve them.
type OverflowDoc struct {
	To    string `json:"to"`
	Queue string `json:"queue,omitempty"`
}

// HoursDoc are opening hours.
type HoursDoc struct {
	Timezone string                 `json:"timezone"`
	Days     map[string][][2]string `json:"days"`
	Holidays []string               `json:"holidays,omitempty"`
}

// WidgetDoc is a website widget (or the settings of contact links).
type WidgetDoc struct {
	ID    string `json:"id"`
	Queue string `json:"queue"`
	// AllowedOrigins are the websites that may embed it, as origins
	// ("https://www.example.com"). The server's own pages always may.
	AllowedOrigins []string `json:"allowedOrigins"`
	Title          string   `json:"title"`
	// Consent, when set, is shown before a chat starts and must be accepted.
	Consent string `json:"consent,omitempty"`
	// Texts override the widget's words (for another language).
	Texts map[string]string `json:"texts,omitempty"`
	// Listed shows the widget's queue on the contact portal (/contact).
	Listed bool `json:"listed,omitempty"`
	// Phone, when set, is the telephone the widget's "Call us by phone"
	// button calls through the SIP gateway (click-to-call): a number (to a
	// trunk) or an extension. Visitors never see or choose it.
	Phone string `json:"phone,omitempty"`
}

// AgentDoc is an agent's routing profile.
type AgentDoc struct {
	User           string         `json:"user"`
	Name           string         `json:"name,omitempty"` // filled in on reads
	ChatSlots      int            `json:"chatSlots"`
	Skills         map[string]int `json:"skills,omitempty"`
	ExclusiveCalls bool           `json:"exclusiveCalls"`
}

// Limits on settings.
const (
	maxID        = 64
	maxName      = 100
	maxOrigins   = 50
	maxTexts     = 100
	maxTextLen   = 1000
	maxMembers   = 500
	maxSkills    = 50
	maxChatSlots = 20
	maxSeconds   = 7 * 24 * 3600
	defaultSLA   = 20
)

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// InvalidError is a setting that cannot be accepted; the text says what to
// change.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

func invalid(format string, args ...any) error {
	return &InvalidError{Msg: fmt.Sprintf(format, args...)}
}

func checkID(what, id string) error {
	if !idRE.MatchString(id) {
		return invalid("%s id %q: use 1-%d lowercase letters, digits, - or _", what, id, maxID)
	}
	return nil
}

func checkText(what, s string, max int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return invalid("%s is required", what)
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return invalid("%s: at most %d characters of text", what, max)
	}
	return nil
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

func parseClock(s string) (routing.Clock, error) {
	var h, m int
	if len(s) != 5 || s[2] != ':' {
		return 0, invalid("time %q: write HH:MM, e.g. 09:00 or 24:00", s)
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &h, &m); err != nil || h > 24 || m > 59 || (h == 24 && m != 0) {
		return 0, invalid("time %q: write HH:MM, e.g. 09:00 or 24:00", s)
	}
	return routing.At(h, m), nil
}

// Routing converts the document to the routing engine's queue, checking it.
func (d QueueDoc) Routing() (routing.Queue, error) {
	if err := checkID("queue", d.ID); err != nil {
		return routing.Queue{}, err
	}
	if err := checkText("name", d.Name, maxName, true); err != nil {
		return routing.Queue{}, err
	}
	if len(d.Members) > maxMembers || len(d.Skills) > maxSkills {
		return routing.Queue{}, invalid("at most %d members and %d skills", maxMembers, maxSkills)
	}
	if len(d.WrapUpCodes) > maxSkills {
		return routing.Queue{}, invalid("at most %d wrap-up codes", maxSkills)
	}
	for _, c := range d.WrapUpCodes {
		if err := checkText("wrap-up code", c, 64, true); err != nil {
			return routing.Queue{}, err
		}
	}
	for _, m := range d.Media {
		if !routing.Media(m).Valid() {
			return routing.Queue{}, invalid("media %q: use chat, voice or video", m)
		}
	}
	for what, n := range map[string]int{"stickyWaitSeconds": d.StickyWaitSeconds, "offerTimeoutSeconds": d.OfferTimeoutSeconds,
		"wrapUpSeconds": d.WrapUpSeconds, "maxWaitSeconds": d.MaxWaitSeconds, "serviceLevelSeconds": d.ServiceLevelSeconds} {
		if n < 0 || n > maxSeconds {
			return routing.Queue{}, invalid("%s: 0 to %d", what, maxSeconds)
		}
	}
	q := routing.Queue{
		ID: routing.QueueID(d.ID), Priority: d.Priority, Skills: routing.Skills(d.Skills), Strategy: routing.Strategy(d.Strategy),
		StickyWait: seconds(d.StickyWaitSeconds), OfferTimeout: seconds(d.OfferTimeoutSeconds), WrapUp: seconds(d.WrapUpSeconds),
		MaxWait: seconds(d.MaxWaitSeconds), MaxLength: d.MaxLength,
		Overflow:   routing.Overflow{To: routing.OverflowKind(d.Overflow.To), Queue: routing.QueueID(d.Overflow.Queue)},
		AfterHours: routing.Overflow{To: routing.OverflowKind(d.AfterHours.To), Queue: routing.QueueID(d.AfterHours.Queue)},
	}
	for _, m := range d.Members {
		q.Members = append(q.Members, routing.Member{Agent: routing.AgentID(m.User), Weight: m.Weight})
	}
	if d.Hours != nil {
		loc, err := time.LoadLocation(d.Hours.Timezone)
		if err != nil {
			return routing.Queue{}, invalid("hours: unknown time zone %q (use a name like Europe/Paris)", d.Hours.Timezone)
		}
		h := &routing.Hours{Location: loc}
		for day, spans := range d.Hours.Days {
			wd, ok := weekdays[strings.ToLower(day)]
			if !ok {
				return routing.Queue{}, invalid("hours: day %q: use mon, tue, wed, thu, fri, sat or sun", day)
			}
			for _, sp := range spans {
				from, err := parseClock(sp[0])
				if err != nil {
					return routing.Queue{}, err
				}
				to, err := parseClock(sp[1])
				if err != nil {
					return routing.Queue{}, err
				}
				h.Week[wd] = append(h.Week[wd], routing.Span{Open: from, Close: to})
			}
		}
		for _, day := range d.Hours.Holidays {
			t, err := time.Parse(time.DateOnly, day)
			if err != nil {
				return routing.Queue{}, invalid("hours: holiday %q: write YYYY-MM-DD", day)
			}
			h.Holidays = append(h.Holidays, routing.Date{Year: t.Year(), Month: t.Month(), Day: t.Day()})
		}
		q.Hours = h
	}
	if err := q.Validate(); err != nil {
		return routing.Queue{}, invalid("%s", strings.TrimPrefix(err.Error(), "routing: "))
	}
	return q, nil
}

// offers reports whether the queue takes contacts by media m.
func (d QueueDoc) offers(m routing.Media) bool {
	return len(d.Media) == 0 || slices.Contains(d.Media, string(m))
}

func (d QueueDoc) serviceLevel() time.Duration {
	if d.ServiceLevelSeconds <= 0 {
		return defaultSLA * time.Second
	}
	return seconds(d.ServiceLevelSeconds)
}

// check validates a widget; queues are the known queue ids.
func (d WidgetDoc) check(queues map[string]QueueDoc) error {
	if err := checkID("widget", d.ID); err != nil {
		return err
	}
	if _, ok := queues[d.Queue]; !ok {
		return invalid("queue %q does not exist; create it first", d.Queue)
	}
	if err := checkText("title", d.Title, maxName, false); err != nil {
		return err
	}
	if err := checkText("consent", d.Consent, maxTextLen, false); err != nil {
		return err
	}
	if len(d.AllowedOrigins) > maxOrigins || len(d.Texts) > maxTexts {
		return invalid("at most %d allowed origins and %d texts", maxOrigins, maxTexts)
	}
	for _, o := range d.AllowedOrigins {
		if err := checkOrigin(o); err != nil {
			return err
		}
	}
	for k, v := range d.Texts {
		if err := checkText("text "+k, v, maxTextLen, false); err != nil {
			return err
		}
	}
	if d.Phone != "" && !phoneRE.MatchString(d.Phone) {
		return invalid("phone %q: a number (+15551234567) or an extension: up to 64 letters, digits and + * # . _ -", d.Phone)
	}
	return nil
}

// phoneRE is what a widget's click-to-call destination may look like.
var phoneRE = regexp.MustCompile(`^[+]?[0-9A-Za-z*#._-]{1,64}$`)

// checkOrigin accepts a web origin: scheme, host and optional port, nothing
// else (no path, no wildcard: a widget's origins are its sites).
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil || u.Fragment != "" ||
		strings.ContainsAny(o, "*?[") || o != strings.ToLower(o) {
		return invalid("allowed origin %q: write scheme and host in lowercase, no wildcard, e.g. https://www.example.com", o)
	}
	return nil
}

// Routing converts an agent document to the engine's profile.
func (d AgentDoc) Routing() (routing.Profile, error) {
	if d.User == "" {
		return routing.Profile{}, invalid("agent: user is required")
	}
	if d.ChatSlots < 0 || d.ChatSlots > maxChatSlots {
		return routing.Profile{}, invalid("chatSlots: 0 to %d", maxChatSlots)
	}
	if len(d.Skills) > maxSkills {
		return routing.Profile{}, invalid("at most %d skills", maxSkills)
	}
	return routing.Profile{ID: routing.AgentID(d.User), Skills: routing.Skills(d.Skills), ChatSlots: d.ChatSlots, ExclusiveCalls: d.ExclusiveCalls}, nil
}

// decodeDoc reads a settings document strictly: unknown fields are errors
// that say which.
func decodeDoc(b []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return invalid("one JSON object, please")
	}
	return nil
}

var errNoSuchSetting = errors.New("contact: no such setting")
