package account

import (
	"encoding/base32"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// RFC 6238 appendix B, SHA-1: the secret is the ASCII "12345678901234567890"
// and the 8-digit codes end in the 6-digit ones we use.
func TestTOTPVectors(t *testing.T) {
	secret := base32.StdEncoding.EncodeToString([]byte("12345678901234567890"))
	for _, tc := range []struct {
		unix int64
		code string
	}{{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"}, {1234567890, "005924"}, {2000000000, "279037"}} {
		got, err := totpCode(secret, totpStep(time.Unix(tc.unix, 0)))
		if err != nil || got != tc.code {
			t.Errorf("code at %d = %q, %v; want %s", tc.unix, got, err, tc.code)
		}
	}
}

func TestMatchTOTPWindow(t *testing.T) {
	secret := base32.StdEncoding.EncodeToString([]byte("12345678901234567890"))
	now := time.Unix(1111111111, 0)
	cur := totpStep(now)
	for _, tc := range []struct {
		name string
		step int64
		ok   bool
	}{{"previous", cur - 1, true}, {"current", cur, true}, {"next", cur + 1, true}, {"two back", cur - 2, false}, {"two ahead", cur + 2, false}} {
		code, _ := totpCode(secret, tc.step)
		step, ok := matchTOTP(secret, code, now)
		if ok != tc.ok || (ok && step != tc.step) {
			t.Errorf("%s: matchTOTP = %d, %v", tc.name, step, ok)
		}
	}
	code, _ := totpCode(secret, cur)
	for _, bad := range []string{"", "12345", "1234567", "12a456", "-12345"} {
		if _, ok := matchTOTP(secret, bad, now); ok {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, ok := matchTOTP(secret, code[:3]+" "+code[3:], now); !ok {
		t.Error("code with a space refused")
	}
}

func TestTOTPFlow(t *testing.T) {
	e := newEnv(t)
	u := e.user("tess", RoleMember)
	c := e.signedIn(u)

	r := c.do("POST", "/api/v1/auth/totp/setup", nil)
	wantStatus(t, "setup", r, http.StatusOK, "")
	secret := r.body["secret"].(string)
	link, err := url.Parse(r.body["url"].(string))
	if err != nil || link.Scheme != "otpauth" || link.Host != "totp" || link.Query().Get("secret") != secret ||
		link.Query().Get("issuer") != "Switchboard" || link.Path != "/Switchboard:tess" {
		t.Fatalf("otpauth URL %v, %v", link, err)
	}
	// Until enabled, sign-in needs no code.
	e.client().login("tess", "tess-password")

	code := func(offset int64) string {
		c, err := totpCode(secret, totpStep(e.clock.Now())+offset)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	wantStatus(t, "enable with a wrong code", c.do("POST", "/api/v1/auth/totp/enable", map[string]string{"code": "000000"}), http.StatusBadRequest, "bad_request")
	wantStatus(t, "enable", c.do("POST", "/api/v1/auth/totp/enable", map[string]string{"code": code(0)}), http.StatusNoContent, "")
	wantStatus(t, "setup again", c.do("POST", "/api/v1/auth/totp/setup", nil), http.StatusConflict, "conflict")
	if s := c.do("GET", "/api/v1/auth/session", nil); s.body["user"].(map[string]any)["totpEnabled"] != true {
		t.Fatalf("session says %v", s.raw)
	}

	login := func(totp string) result {
		body := map[string]string{"username": "tess", "password": "tess-password"}
		if totp != "" {
			body["totp"] = totp
		}
		return e.client().send("POST", "/api/v1/auth/login", body, nil)
	}
	wantStatus(t, "login without a code", login(""), http.StatusUnauthorized, "totp_required")
	wantStatus(t, "login with a wrong password and no code", e.client().send("POST", "/api/v1/auth/login",
		map[string]string{"username": "tess", "password": "wrong-password"}, nil), http.StatusUnauthorized, "unauthorized")
	// The code that enabled TOTP is spent; so is anything older.
	wantStatus(t, "the enabling code", login(code(0)), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, "an older code", login(code(-1)), http.StatusUnauthorized, "unauthorized")
	e.clock.Add(30 * time.Second)
	wantStatus(t, "login with the next code", login(code(0)), http.StatusOK, "")
	wantStatus(t, "the same code again", login(code(0)), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, "a wrong code", login("123456"), http.StatusUnauthorized, "unauthorized")
	// Since the last success: the wrong code counts, the replay does not.
	if got, _ := e.st.User(t.Context(), u.ID); got.FailedLogins != 1 {
		t.Fatalf("failures counted %d, want 1", got.FailedLogins)
	}
	wantStatus(t, "a code from the future", login(code(1)), http.StatusOK, "")

	wantStatus(t, "disable with a wrong password", c.do("POST", "/api/v1/auth/totp/disable", map[string]string{"password": "nope-nope-nope"}), http.StatusForbidden, "forbidden")
	wantStatus(t, "disable", c.do("POST", "/api/v1/auth/totp/disable", map[string]string{"password": "tess-password"}), http.StatusNoContent, "")
	wantStatus(t, "login after disable", login(""), http.StatusOK, "")
}
