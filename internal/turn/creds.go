package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST API and coturn specify.
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxUserLen bounds the user part: it keys the quota map and appears in logs.
const maxUserLen = 256

var errBadUsername = errors.New("turn: username is not <unix-expiry>:<user>")

// Credentials mints short-lived TURN credentials in the TURN REST API scheme
// (draft-uberti-behave-turn-rest), the same scheme as coturn's
// use-auth-secret/static-auth-secret, so the same secret works with either
// server. The username is "<unix-expiry>:<user>" and the password is
// base64(HMAC-SHA1(secret, username)); the server needs no per-user state.
func Credentials(secret []byte, user string, ttl time.Duration, now time.Time) (username, password string) {
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + user
	return username, restPassword(secret, username)
}

func restPassword(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// parseUsername splits a REST username. The expiry is the decimal digits
// before the first colon; the user is everything after it (it may contain
// colons). A bare timestamp, which coturn accepts, is refused: the user part
// is what quotas count, and we mint every credential ourselves.
func parseUsername(username string) (expiry int64, user string, err error) {
	ts, user, ok := strings.Cut(username, ":")
	if !ok || ts == "" || len(ts) > 19 || user == "" || len(user) > maxUserLen || !utf8.ValidString(user) {
		return 0, "", errBadUsername
	}
	for i := 0; i < len(ts); i++ {
		if ts[i] < '0' || ts[i] > '9' {
			return 0, "", errBadUsername
		}
	}
	expiry, err = strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, "", errBadUsername
	}
	return expiry, user, nil
}
