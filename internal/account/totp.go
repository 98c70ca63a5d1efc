package account

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"switchboard/internal/store"
)

// Two-factor sign-in with time-based one-time passwords (RFC 6238): 30 s
// steps, 6 digits, SHA-1, which is what every authenticator app supports.
// A code is accepted one step early or late for clock drift, and each step
// is accepted at most once per user (the store records the last one), so a
// code seen over someone's shoulder cannot be replayed.

const totpPeriod = 30

// newTOTPKey makes a secret (160 bits, as RFC 4226 recommends) and its
// otpauth:// URL for authenticator apps.
func (s *Service) newTOTPKey(username string) (secret, url string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.cfg.Issuer, AccountName: username,
		Period: totpPeriod, SecretSize: 20, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", err
	}
	return key.Secret(), key.URL(), nil
}

func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// totpCode is the code for secret at a time step.
func totpCode(secret string, step int64) (string, error) {
	return hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// matchTOTP returns the time step whose code is code, trying the previous,
// current and next step. Spaces are ignored ("123 456" as apps show it).
// The caller still has to claim the step (store.UseTOTPStep) to stop replays.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	code = strings.ReplaceAll(code, " ", "")
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return 0, false
	}
	cur := totpStep(now)
	var found int64
	ok := false
	// All three are computed and compared in constant time, so timing does
	// not tell which step (if any) matched.
	for step := cur - 1; step <= cur+1; step++ {
		want, err := totpCode(secret, step)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !ok {
			found, ok = step, true
		}
	}
	return found, ok
}

// HTTP: set up (a secret to scan), enable (prove the app has it), disable
// (with the password).

func (s *Service) totpSetup(w http.ResponseWriter, r *http.Request, c *caller) {
	if c.user.TOTPSecret != "" {
		s.reply(w, "totp setup", fail(http.StatusConflict, "conflict", "two-factor sign-in is on already; turn it off first"))
		return
	}
	secret, url, err := s.newTOTPKey(c.Username)
	if err != nil {
		s.internal(w, "totp setup", err)
		return
	}
	if err := s.st.SetTOTPPending(r.Context(), c.UserID, secret); err != nil {
		s.internal(w, "totp setup", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"secret": secret, "url": url})
}

func (s *Service) totpEnable(w http.ResponseWriter, r *http.Request, c *caller) {
	var req struct {
		Code string `json:"code"`
	}
	if err := s.limit(r); err != nil {
		s.reply(w, "totp enable", err)
		return
	}
	if err := decode(w, r, &req); err != nil {
		s.reply(w, "totp enable", err)
		return
	}
	if c.user.TOTPSecret != "" {
		s.reply(w, "totp enable", fail(http.StatusConflict, "conflict", "two-factor sign-in is on already"))
		return
	}
	pending := c.user.TOTPPending
	if pending == "" {
		s.reply(w, "totp enable", fail(http.StatusConflict, "conflict", "set up two-factor sign-in first"))
		return
	}
	step, ok := matchTOTP(pending, req.Code, s.now())
	if !ok {
		s.reply(w, "totp enable", invalid("wrong code; check the time on your phone and try the next code"))
		return
	}
	err := s.st.EnableTOTP(r.Context(), c.UserID, pending, step)
	if errors.Is(err, store.ErrNotFound) {
		s.reply(w, "totp enable", fail(http.StatusConflict, "conflict", "the set-up secret changed meanwhile; set up again"))
		return
	}
	if err != nil {
		s.internal(w, "totp enable", err)
		return
	}
	s.log.Info("two-factor sign-in enabled", "user", c.Username)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) totpDisable(w http.ResponseWriter, r *http.Request, c *caller) {
	var req struct {
		Password string `json:"password"`
	}
	if err := s.limit(r); err != nil {
		s.reply(w, "totp disable", err)
		return
	}
	if err := decode(w, r, &req); err != nil {
		s.reply(w, "totp disable", err)
		return
	}
	// The password, not just the session: whoever finds an unlocked
	// computer must not be able to remove the second factor.
	if _, err := s.checkPassword(r.Context(), r, c.user, true, c.Username, req.Password); err != nil {
		if errors.Is(err, errWrongCredentials) {
			err = fail(http.StatusForbidden, "forbidden", "the password is wrong")
		}
		s.reply(w, "totp disable", err)
		return
	}
	if err := s.st.DisableTOTP(r.Context(), c.UserID); err != nil {
		s.internal(w, "totp disable", err)
		return
	}
	s.log.Info("two-factor sign-in disabled", "user", c.Username)
	w.WriteHeader(http.StatusNoContent)
}
