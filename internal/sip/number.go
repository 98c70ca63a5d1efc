package sip

import (
	"errors"
	"fmt"
	"strings"
)

// Telephone numbers (E.164). Numbers reach us typed by people ("0171 234
// 5678", "+1 (555) 123-4567", "0044 20 7946 0000") and written by trunks in
// their own ways; inside Switchboard every number is E.164: "+" and up to 15
// digits, the country calling code first. A NumberPlan turns the rest into
// that, and Format writes a number the way a trunk wants it.

// Number formats: how a number is written in the Request-URI of calls over a
// trunk (Trunk.NumberFormat).
const (
	FormatE164     = "e164"     // +15551234567
	FormatNational = "national" // 05551234567 at home (national prefix), 0044... abroad
	FormatDigits   = "digits"   // 15551234567: E.164 without the "+"
)

// ErrBadNumber wraps every number the plan cannot read; the message says why.
var ErrBadNumber = errors.New("sip: bad telephone number")

// NumberPlan says how to read numbers written without a country code.
type NumberPlan struct {
	// CountryCode is the default country calling code ("1", "44"), used for
	// national numbers; "" means numbers must be international.
	CountryCode string
}

// CheckCountryCode validates a configured default country calling code
// ("1", "+44" or "" for none) and returns it without the "+".
func CheckCountryCode(cc string) (string, error) {
	cc = strings.TrimPrefix(strings.TrimSpace(cc), "+")
	if cc == "" {
		return "", nil
	}
	if len(cc) > 3 || !allDigits(cc) || cc[0] == '0' {
		return "", fmt.Errorf("the default country calling code %q must be 1 to 3 digits, not starting with 0 (for example 1 or 44)", cc)
	}
	return cc, nil
}

// nationalPrefix is the trunk prefix dialled before national numbers: "1"
// in the North American plan, "0" nearly everywhere else.
func (p NumberPlan) nationalPrefix() string {
	if p.CountryCode == "1" {
		return "1"
	}
	return "0"
}

// internationalPrefixes are dialled before a country code: "00" (ITU), and
// "011" in the North American plan.
func (p NumberPlan) internationalPrefixes() []string {
	if p.CountryCode == "1" {
		return []string{"011", "00"}
	}
	return []string{"00"}
}

// maxNumberInput bounds what Normalize reads: a person's typing, with spaces.
const maxNumberInput = 64

// Normalize reads a telephone number and returns it in E.164 ("+" and 3 to
// 15 digits). Spaces, dots, dashes, slashes and brackets are ignored; a
// "tel:" prefix too. Errors wrap ErrBadNumber and say what to change.
func (p NumberPlan) Normalize(s string) (string, error) {
	if len(s) > maxNumberInput {
		return "", fmt.Errorf("%w: longer than %d characters", ErrBadNumber, maxNumberInput)
	}
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "tel:"), "TEL:")
	var b strings.Builder
	plus := false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			plus = true
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '/':
		default:
			return "", fmt.Errorf("%w: %q may hold only digits, a leading + and spaces, dots, dashes or brackets", ErrBadNumber, s)
		}
	}
	d := b.String()
	if d == "" {
		return "", fmt.Errorf("%w: no digits", ErrBadNumber)
	}
	switch {
	case plus:
	case hasAnyPrefix(d, p.internationalPrefixes()) != "":
		d = d[len(hasAnyPrefix(d, p.internationalPrefixes())):]
	case p.CountryCode == "":
		return "", fmt.Errorf("%w: %q has no country code: write it as +<country code><number>, or set sip.default_country_code", ErrBadNumber, s)
	case p.CountryCode == "1" && len(d) == 10 && d[0] >= '2':
		d = "1" + d // NANP: ten digits without the 1 (area codes start with 2-9)
	case strings.HasPrefix(d, p.nationalPrefix()) && len(d) > 1:
		d = p.CountryCode + d[len(p.nationalPrefix()):]
	default:
		return "", fmt.Errorf("%w: %q is neither international (+%s...) nor national (starting with %s)", ErrBadNumber, s,
			p.CountryCode, p.nationalPrefix())
	}
	if d == "" || d[0] == '0' {
		return "", fmt.Errorf("%w: %q: a country code never starts with 0", ErrBadNumber, s)
	}
	if len(d) < 3 || len(d) > 15 {
		return "", fmt.Errorf("%w: %q has %d digits with its country code; E.164 numbers have 3 to 15", ErrBadNumber, s, len(d))
	}
	return "+" + d, nil
}

// ParseAs reads a number written in format, as a trunk writes them:
// FormatDigits numbers are E.164 without the "+" (a national prefix could
// not be told from a country code there); the others as Normalize.
func (p NumberPlan) ParseAs(s, format string) (string, error) {
	if t := strings.TrimSpace(s); format == FormatDigits && allDigits(t) {
		return p.Normalize("+" + t)
	}
	return p.Normalize(s)
}

func hasAnyPrefix(s string, prefixes []string) string {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return p
		}
	}
	return ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// IsE164 reports whether s is a number as Normalize returns it.
func IsE164(s string) bool {
	return len(s) >= 4 && len(s) <= 16 && s[0] == '+' && s[1] != '0' && allDigits(s[1:])
}

// Format writes an E.164 number as format wants: FormatE164 as it is,
// FormatDigits without the "+", FormatNational with the national prefix
// for numbers of the plan's country and the international prefix for others.
func (p NumberPlan) Format(e164, format string) string {
	d := strings.TrimPrefix(e164, "+")
	switch format {
	case FormatDigits:
		return d
	case FormatNational:
		// A national number starting with 0 (Italy keeps it after +39)
		// could not be told from one with the prefix: write those in full.
		if nsn, ok := strings.CutPrefix(d, p.CountryCode); p.CountryCode != "" && ok && nsn != "" && nsn[0] != '0' {
			return p.nationalPrefix() + nsn
		}
		return p.internationalPrefixes()[0] + d
	}
	return "+" + d
}

// CheckNumberFormat validates a Trunk.NumberFormat ("" means e164).
func CheckNumberFormat(f string) error {
	switch f {
	case "", FormatE164, FormatNational, FormatDigits:
		return nil
	}
	return fmt.Errorf("number format %q is not one of %q, %q, %q", f, FormatE164, FormatNational, FormatDigits)
}

// CheckPrefix validates an outbound prefix: "+" and 1 to 15 digits.
func CheckPrefix(p string) error {
	if len(p) < 2 || len(p) > 16 || p[0] != '+' || !allDigits(p[1:]) {
		return fmt.Errorf("outbound prefix %q must be + and 1 to 15 digits, such as +1 or +4420", p)
	}
	return nil
}
