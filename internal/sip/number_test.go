package sip

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeNumber(t *testing.T) {
	us, uk, none := NumberPlan{CountryCode: "1"}, NumberPlan{CountryCode: "44"}, NumberPlan{}
	for _, c := range []struct {
		plan NumberPlan
		in   string
		want string // "" for an error
	}{
		{none, "+15551234567", "+15551234567"},
		{none, " +1 (555) 123-4567 ", "+15551234567"},
		{none, "tel:+442079460000", "+442079460000"},
		{none, "0044 20 7946 0000", "+442079460000"},
		{none, "020 7946 0000", ""}, // national without a country code
		{uk, "020 7946 0000", "+442079460000"},
		{uk, "0044 20 7946 0000", "+442079460000"},
		{uk, "+49 30 1234567", "+49301234567"},
		{uk, "2079460000", ""}, // neither national nor international
		{us, "555-123-4567", "+15551234567"},
		{us, "1 555 123 4567", "+15551234567"},
		{us, "011 44 20 7946 0000", "+442079460000"},
		{none, "+0123456", ""},              // a country code never starts with 0
		{none, "+1234567890123456", ""},     // 16 digits
		{none, "+12", ""},                   // too short
		{none, "+1555abc", ""},              // letters
		{none, "+1555;user=phone", ""},      // URI syntax
		{none, "", ""},                      // nothing
		{none, "+", ""},                     // no digits
		{none, "1+5551234567", ""},          // + not at the start
		{uk, "0", ""},                       // national prefix alone
		{none, strings.Repeat("1", 65), ""}, // too long to read
	} {
		got, err := c.plan.Normalize(c.in)
		if c.want == "" {
			if err == nil || !errors.Is(err, ErrBadNumber) {
				t.Errorf("%+v Normalize(%q) = %q, %v; want an ErrBadNumber", c.plan, c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%+v Normalize(%q) = %q, %v; want %q", c.plan, c.in, got, err, c.want)
		}
	}
	// The message says how to fix it.
	if _, err := none.Normalize("020 7946 0000"); err == nil || !strings.Contains(err.Error(), "sip.default_country_code") {
		t.Errorf("no hint about the default country code: %v", err)
	}
}

func TestParseAs(t *testing.T) {
	uk := NumberPlan{CountryCode: "44"}
	for _, c := range []struct{ in, format, want string }{
		{"442079460000", FormatDigits, "+442079460000"},
		{"15551234567", FormatDigits, "+15551234567"},
		{"02079460000", FormatNational, "+442079460000"},
		{"+442079460000", FormatDigits, "+442079460000"},
		{"02079460000", FormatE164, "+442079460000"},
	} {
		if got, err := uk.ParseAs(c.in, c.format); err != nil || got != c.want {
			t.Errorf("ParseAs(%q, %q) = %q, %v; want %q", c.in, c.format, got, err, c.want)
		}
	}
	if _, err := uk.ParseAs("0207", FormatDigits); err == nil {
		t.Error("digits starting with 0 read as E.164")
	}
}

func TestFormatNumber(t *testing.T) {
	uk, us := NumberPlan{CountryCode: "44"}, NumberPlan{CountryCode: "1"}
	for _, c := range []struct {
		plan         NumberPlan
		in, fmt, out string
	}{
		{uk, "+442079460000", FormatE164, "+442079460000"},
		{uk, "+442079460000", "", "+442079460000"},
		{uk, "+442079460000", FormatDigits, "442079460000"},
		{uk, "+442079460000", FormatNational, "02079460000"},
		{uk, "+15551234567", FormatNational, "0015551234567"},
		{us, "+15551234567", FormatNational, "15551234567"},
		{us, "+442079460000", FormatNational, "011442079460000"},
	} {
		if got := c.plan.Format(c.in, c.fmt); got != c.out {
			t.Errorf("%+v Format(%q, %q) = %q, want %q", c.plan, c.in, c.fmt, got, c.out)
		}
		// What a trunk gets back in its own format reads as the same number.
		if back, err := c.plan.Normalize(c.plan.Format(c.in, c.fmt)); c.fmt != FormatDigits && (err != nil || back != c.in) {
			t.Errorf("%+v round trip of %q in %q: %q, %v", c.plan, c.in, c.fmt, back, err)
		}
	}
}

func TestCountryCodeAndPrefixes(t *testing.T) {
	for in, want := range map[string]string{"": "", "1": "1", "+44": "44", " 353 ": "353"} {
		if got, err := CheckCountryCode(in); err != nil || got != want {
			t.Errorf("CheckCountryCode(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"0", "1234", "4a", "+0"} {
		if _, err := CheckCountryCode(in); err == nil {
			t.Errorf("CheckCountryCode(%q) accepted", in)
		}
	}
	for _, p := range []string{"+1", "+4420"} {
		if err := CheckPrefix(p); err != nil {
			t.Errorf("CheckPrefix(%q): %v", p, err)
		}
	}
	for _, p := range []string{"", "+", "1", "+1a", "+12345678901234567"} {
		if err := CheckPrefix(p); err == nil {
			t.Errorf("CheckPrefix(%q) accepted", p)
		}
	}
}

func TestChooseTrunk(t *testing.T) {
	trunks := []Trunk{
		{ID: "default", Enabled: true},
		{ID: "us", Enabled: true, OutboundPrefixes: []string{"+1"}},
		{ID: "london", Enabled: true, OutboundPrefixes: []string{"+4420", "+44"}},
		{ID: "uk-off", Enabled: false, OutboundPrefixes: []string{"+442079"}},
	}
	for num, want := range map[string]string{"+15551234567": "us", "+442079460000": "london", "+4915112345": "default"} {
		if got, ok := ChooseTrunk(trunks, num); !ok || got.ID != want {
			t.Errorf("ChooseTrunk(%s) = %q, %v; want %q", num, got.ID, ok, want)
		}
	}
	if _, ok := ChooseTrunk(trunks[1:], "+4915112345"); ok {
		t.Error("a number no prefix matches found a trunk without a default")
	}
}

func FuzzNormalizeNumber(f *testing.F) {
	for _, s := range []string{"+15551234567", "0044 20 7946 0000", "020 7946 0000", "011 44 20", "tel:+1", "(555) 123-4567", "+", "00", "0"} {
		f.Add(s, "44")
		f.Add(s, "1")
	}
	f.Fuzz(func(t *testing.T, s, cc string) {
		cc, err := CheckCountryCode(cc)
		if err != nil {
			return
		}
		p := NumberPlan{CountryCode: cc}
		n, err := p.Normalize(s)
		if err != nil {
			if !errors.Is(err, ErrBadNumber) {
				t.Fatalf("error not wrapping ErrBadNumber: %v", err)
			}
			return
		}
		if !IsE164(n) {
			t.Fatalf("Normalize(%q) = %q, not E.164", s, n)
		}
		// Normalizing is idempotent, and every format reads back to the
		// same number.
		for _, f := range []string{FormatE164, FormatNational, FormatDigits} {
			back, err := p.ParseAs(p.Format(n, f), f)
			if err != nil || back != n {
				if f == FormatNational && cc == "" {
					continue
				}
				t.Fatalf("%q -> %q in %s -> %q, %v", s, n, f, back, err)
			}
		}
	})
}
