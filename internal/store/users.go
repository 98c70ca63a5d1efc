package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Accounts: users, browser sessions, personal API tokens and invitations.
// Policy (who may do what, how long a lock lasts) lives in internal/account;
// the store keeps the rows and makes the few read-modify-write steps atomic.

var (
	// ErrUsernameTaken and ErrEmailTaken say which unique field clashed; both
	// match ErrExists with errors.Is.
	ErrUsernameTaken = fmt.Errorf("username taken: %w", ErrExists)
	ErrEmailTaken    = fmt.Errorf("email in use: %w", ErrExists)
	// ErrLastAdmin is returned by UpdateUser when the change would leave no
	// enabled admin, which nobody could undo from the web.
	ErrLastAdmin = errors.New("store: the last enabled admin cannot be demoted or disabled")
)

// User is an account. PasswordHash and the TOTP fields are secrets: never
// send them to clients.
type User struct {
	ID           string
	Username     string // lowercase, unique
	DisplayName  string
	Email        string // lowercase; "" when unknown, else unique
	Role         string // admin, agent or member
	PasswordHash string // argon2id PHC string; "" for sign-in by SSO only
	TOTPSecret   string // base32; "" when two-factor sign-in is off
	TOTPPending  string // secret set up but not yet confirmed with a code
	TOTPLastStep int64  // last accepted TOTP time step
	Disabled     bool
	FailedLogins int
	Lockouts     int       // lockouts since the last successful sign-in
	LockedUntil  time.Time // zero when never locked
	CreatedAt    time.Time
}

// Session is a signed-in browser. TokenHash is the SHA-256 (hex) of the cookie
// value; the cookie itself is never stored.
type Session struct {
	ID         string
	TokenHash  string
	UserID     string
	CSRFToken  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	UserAgent  string
	IP         string
}

// UserToken is a personal API token; TokenHash is the SHA-256 (hex) of it.
type UserToken struct {
	ID         string
	TokenHash  string
	UserID     string
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero when never used
}

// Invite lets one person create an account with Role. TokenHash is the
// SHA-256 (hex) of the token in the invitation link.
type Invite struct {
	ID        string
	TokenHash string
	Role      string
	CreatedBy string // user id of the admin
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused
	UsedBy    string    // the user id it created
}

// UserChanges is a partial update for UpdateUser; nil fields stay as they are.
type UserChanges struct {
	DisplayName *string
	Email       *string
	Role        *string
	Disabled    *bool
}

const userColumns = `id, username, display_name, email, role, password_hash, totp_secret, totp_pending,
	totp_last_step, disabled, failed_logins, lockouts, locked_until, created_at`

type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner, extra ...any) (User, error) {
	var u User
	var locked, created int64
	dest := append([]any{&u.ID, &u.Username, &u.DisplayName, &u.Email, &u.Role, &u.PasswordHash,
		&u.TOTPSecret, &u.TOTPPending, &u.TOTPLastStep, &u.Disabled, &u.FailedLogins, &u.Lockouts,
		&locked, &created}, extra...)
	if err := row.Scan(dest...); err != nil {
		return User{}, err
	}
	u.LockedUntil = optMillis(locked)
	u.CreatedAt = fromMillis(created)
	return u, nil
}

// optMillis is fromMillis with 0 meaning "not set".
func optMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return fromMillis(ms)
}

func optToMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return millis(t)
}

// userConflict maps a unique violation on users to the field that clashed.
// Both databases name the column or index in the error (SQLite:
// "users.email", PostgreSQL: constraint "users_email").
func userConflict(err error) error {
	if !isUniqueViolation(err) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if pe.ConstraintName == "users_email" {
			return ErrEmailTaken
		}
		if pe.ConstraintName == "users_pkey" {
			return ErrExists
		}
		return ErrUsernameTaken
	}
	switch msg := err.Error(); {
	case strings.Contains(msg, "users.email"):
		return ErrEmailTaken
	case strings.Contains(msg, "users.id"):
		return ErrExists
	}
	return ErrUsernameTaken
}

func insertUser(ctx context.Context, exec interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, u User) error {
	_, err := exec.ExecContext(ctx,
		`INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Username, u.DisplayName, u.Email, u.Role, u.PasswordHash, u.TOTPSecret, u.TOTPPending,
		u.TOTPLastStep, u.Disabled, u.FailedLogins, u.Lockouts, optToMillis(u.LockedUntil), millis(u.CreatedAt))
	return userConflict(err)
}

func checkUser(u User) error {
	if u.ID == "" || u.Username == "" || u.Role == "" {
		return errors.New("empty id, username or role")
	}
	return nil
}

// CreateUser stores u; a zero CreatedAt is set to now. It returns
// ErrUsernameTaken, ErrEmailTaken or ErrExists (id) on a clash.
func (s *Store) CreateUser(ctx context.Context, u User) error {
	if err := checkUser(u); err != nil {
		return fmt.Errorf("store: create user: %w", err)
	}
	u.CreatedAt = s.stamp(u.CreatedAt)
	if err := insertUser(ctx, s.w, u); err != nil {
		return fmt.Errorf("store: create user %q: %w", u.Username, err)
	}
	return nil
}

// CreateFirstUser stores u only if there are no users yet, atomically, so two
// racing first-run setups cannot both create an admin. It returns ErrExists
// when a user exists already.
func (s *Store) CreateFirstUser(ctx context.Context, u User) error {
	if err := checkUser(u); err != nil {
		return fmt.Errorf("store: create first user: %w", err)
	}
	u.CreatedAt = s.stamp(u.CreatedAt)
	t, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: create first user: %w", err)
	}
	defer t.Rollback()
	if err := s.lockKey(ctx, t, "users:first"); err != nil {
		return fmt.Errorf("store: create first user: %w", err)
	}
	var n int
	if err := t.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return fmt.Errorf("store: create first user: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("store: create first user: %w", ErrExists)
	}
	if err := insertUser(ctx, t, u); err != nil {
		return fmt.Errorf("store: create first user: %w", err)
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("store: create first user: %w", err)
	}
	return nil
}

// CountUsers returns how many users exist, disabled ones included.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count users: %w", err)
	}
	return n, nil
}

// User returns the user with id, or ErrNotFound.
func (s *Store) User(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if err != nil {
		return User{}, fmt.Errorf("store: user %q: %w", id, notFound(err))
	}
	return u, nil
}

// UserByUsername returns the user with that (lowercase) username, or ErrNotFound.
func (s *Store) UserByUsername(ctx context.Context, username string) (User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE username = ?`, username))
	if err != nil {
		return User{}, fmt.Errorf("store: user %q: %w", username, notFound(err))
	}
	return u, nil
}

// UserByEmail returns the user with that (lowercase) e-mail, or ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	if email == "" {
		return User{}, fmt.Errorf("store: user by email: %w", ErrNotFound)
	}
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, email))
	if err != nil {
		return User{}, fmt.Errorf("store: user by email: %w", notFound(err))
	}
	return u, nil
}

// Users lists every user by username.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	defer rows.Close()
	users := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("store: users: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	return users, nil
}

// LastActive is when each user last used a signed-in session or an API
// token still on record (signing out forgets a session), by user id.
func (s *Store) LastActive(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT user_id, MAX(last_seen_at) FROM sessions GROUP BY user_id
		 UNION ALL
		 SELECT user_id, MAX(last_used_at) FROM user_tokens GROUP BY user_id`)
	if err != nil {
		return nil, fmt.Errorf("store: last active: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			return nil, fmt.Errorf("store: last active: %w", err)
		}
		if t := optMillis(at); t.After(out[id]) {
			out[id] = t
		}
	}
	return out, rows.Err()
}

// UpdateUser applies ch and returns the updated user. Disabling a user ends
// all of their sessions in the same transaction. It refuses (ErrLastAdmin) a
// change that would leave no enabled admin.
func (s *Store) UpdateUser(ctx context.Context, id string, ch UserChanges) (User, error) {
	t, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return User{}, fmt.Errorf("store: update user: %w", err)
	}
	defer t.Rollback()
	// One key for all user updates: they are rare, and the admin count below
	// must not race with another demotion.
	if err := s.lockKey(ctx, t, "users"); err != nil {
		return User{}, fmt.Errorf("store: update user: %w", err)
	}
	u, err := scanUser(t.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if err != nil {
		return User{}, fmt.Errorf("store: update user %q: %w", id, notFound(err))
	}
	wasAdmin := u.Role == "admin" && !u.Disabled
	if ch.DisplayName != nil {
		u.DisplayName = *ch.DisplayName
	}
	if ch.Email != nil {
		u.Email = *ch.Email
	}
	if ch.Role != nil {
		u.Role = *ch.Role
	}
	if ch.Disabled != nil {
		u.Disabled = *ch.Disabled
	}
	if _, err := t.ExecContext(ctx,
		`UPDATE users SET display_name = ?, email = ?, role = ?, disabled = ? WHERE id = ?`,
		u.DisplayName, u.Email, u.Role, u.Disabled, id); err != nil {
		return User{}, fmt.Errorf("store: update user %q: %w", id, userConflict(err))
	}
	if wasAdmin && (u.Role != "admin" || u.Disabled) {
		var admins int
		if err := t.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = ?`, false).
			Scan(&admins); err != nil {
			return User{}, fmt.Errorf("store: update user: %w", err)
		}
		if admins == 0 {
			return User{}, ErrLastAdmin
		}
	}
	if u.Disabled {
		if _, err := t.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
			return User{}, fmt.Errorf("store: update user: %w", err)
		}
	}
	if err := t.Commit(); err != nil {
		return User{}, fmt.Errorf("store: update user: %w", err)
	}
	return u, nil
}

// SetPassword replaces the password hash, clears any sign-in lock and ends
// every session of the user except keepSession ("" ends them all): whoever
// knew the old password must not stay signed in.
func (s *Store) SetPassword(ctx context.Context, id, hash, keepSession string) error {
	t, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: set password: %w", err)
	}
	defer t.Rollback()
	res, err := t.ExecContext(ctx,
		`UPDATE users SET password_hash = ?, failed_logins = 0, lockouts = 0, locked_until = 0 WHERE id = ?`, hash, id)
	if err != nil {
		return fmt.Errorf("store: set password: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: set password: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store: set password %q: %w", id, ErrNotFound)
	}
	if _, err := t.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id <> ?`, id, keepSession); err != nil {
		return fmt.Errorf("store: set password: %w", err)
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("store: set password: %w", err)
	}
	return nil
}

// RehashPassword replaces oldHash by newHash (the same password under new
// parameters) unless the password changed meanwhile. Sessions stay.
func (s *Store) RehashPassword(ctx context.Context, id, oldHash, newHash string) error {
	_, err := s.w.ExecContext(ctx,
		`UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?`, newHash, id, oldHash)
	if err != nil {
		return fmt.Errorf("store: rehash password: %w", err)
	}
	return nil
}

// LoginFailed counts a failed sign-in. When the count reaches maxFailures the
// counter restarts and the account locks until now + lockFor(n), where n is
// the number of earlier lockouts since the last success. It returns the lock
// time, zero if the account is not locked.
func (s *Store) LoginFailed(ctx context.Context, id string, now time.Time, maxFailures int, lockFor func(lockouts int) time.Duration) (time.Time, error) {
	t, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: login failed: %w", err)
	}
	defer t.Rollback()
	if err := s.lockKey(ctx, t, "login:"+id); err != nil {
		return time.Time{}, fmt.Errorf("store: login failed: %w", err)
	}
	var failed, lockouts int
	var locked int64
	if err := t.QueryRowContext(ctx, `SELECT failed_logins, lockouts, locked_until FROM users WHERE id = ?`, id).
		Scan(&failed, &lockouts, &locked); err != nil {
		return time.Time{}, fmt.Errorf("store: login failed %q: %w", id, notFound(err))
	}
	failed++
	until := optMillis(locked)
	if failed >= maxFailures {
		until = fromMillis(millis(now.Add(lockFor(lockouts))))
		failed = 0
		lockouts++
	}
	if _, err := t.ExecContext(ctx, `UPDATE users SET failed_logins = ?, lockouts = ?, locked_until = ? WHERE id = ?`,
		failed, lockouts, optToMillis(until), id); err != nil {
		return time.Time{}, fmt.Errorf("store: login failed: %w", err)
	}
	if err := t.Commit(); err != nil {
		return time.Time{}, fmt.Errorf("store: login failed: %w", err)
	}
	if !until.After(now) {
		return time.Time{}, nil
	}
	return until, nil
}

// LoginSucceeded clears the failure counter, the lockout count and any lock.
func (s *Store) LoginSucceeded(ctx context.Context, id string) error {
	if _, err := s.w.ExecContext(ctx,
		`UPDATE users SET failed_logins = 0, lockouts = 0, locked_until = 0
		 WHERE id = ? AND (failed_logins <> 0 OR lockouts <> 0 OR locked_until <> 0)`, id); err != nil {
		return fmt.Errorf("store: login succeeded: %w", err)
	}
	return nil
}

// execOne runs an UPDATE or DELETE that must touch one row: ErrNotFound if none.
func (s *Store) execOne(ctx context.Context, what, q string, args ...any) error {
	res, err := s.w.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	} else if n == 0 {
		return fmt.Errorf("store: %s: %w", what, ErrNotFound)
	}
	return nil
}

// SetTOTPPending keeps a new TOTP secret until EnableTOTP confirms it.
func (s *Store) SetTOTPPending(ctx context.Context, id, secret string) error {
	return s.execOne(ctx, "set totp pending", `UPDATE users SET totp_pending = ? WHERE id = ?`, secret, id)
}

// EnableTOTP makes the pending secret the user's TOTP secret, provided it is
// still pending (a second setup meanwhile replaced it: ErrNotFound), and
// records step, the time step of the code that confirmed it, as used.
func (s *Store) EnableTOTP(ctx context.Context, id, pending string, step int64) error {
	return s.execOne(ctx, "enable totp",
		`UPDATE users SET totp_secret = totp_pending, totp_pending = '', totp_last_step = ?
		 WHERE id = ? AND totp_pending = ? AND totp_pending <> ''`, step, id, pending)
}

// DisableTOTP turns two-factor sign-in off. The last used step is kept, so
// re-enabling can never accept an old code again.
func (s *Store) DisableTOTP(ctx context.Context, id string) error {
	return s.execOne(ctx, "disable totp", `UPDATE users SET totp_secret = '', totp_pending = '' WHERE id = ?`, id)
}

// UseTOTPStep records that a code for time step was accepted. It reports
// false if that step, or a later one, was used already: one code, one use,
// even when two requests race.
func (s *Store) UseTOTPStep(ctx context.Context, id string, step int64) (bool, error) {
	res, err := s.w.ExecContext(ctx,
		`UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`, step, id, step)
	if err != nil {
		return false, fmt.Errorf("store: use totp step: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: use totp step: %w", err)
	}
	return n == 1, nil
}

// Sessions.

const sessionColumns = `s.id, s.token_hash, s.user_id, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, s.user_agent, s.ip`

func sessionDest(ss *Session, created, seen, expires *int64) []any {
	return []any{&ss.ID, &ss.TokenHash, &ss.UserID, &ss.CSRFToken, created, seen, expires, &ss.UserAgent, &ss.IP}
}

func (ss *Session) setTimes(created, seen, expires int64) {
	ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt = fromMillis(created), fromMillis(seen), fromMillis(expires)
}

// CreateSession stores a session; zero CreatedAt and LastSeenAt are set to now.
func (s *Store) CreateSession(ctx context.Context, ss Session) error {
	if ss.ID == "" || ss.TokenHash == "" || ss.UserID == "" {
		return errors.New("store: create session: empty id, token hash or user")
	}
	ss.CreatedAt = s.stamp(ss.CreatedAt)
	if ss.LastSeenAt.IsZero() {
		ss.LastSeenAt = ss.CreatedAt
	}
	_, err := s.w.ExecContext(ctx,
		`INSERT INTO sessions (id, token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, user_agent, ip)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ss.ID, ss.TokenHash, ss.UserID, ss.CSRFToken, millis(ss.CreatedAt), millis(ss.LastSeenAt),
		millis(ss.ExpiresAt), ss.UserAgent, ss.IP)
	if isUniqueViolation(err) {
		return fmt.Errorf("store: create session: %w", ErrExists)
	}
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// SessionByTokenHash returns the session with that token hash and its user, in
// one query since every authenticated request needs both.
func (s *Store) SessionByTokenHash(ctx context.Context, hash string) (Session, User, error) {
	var ss Session
	var created, seen, expires int64
	u, err := scanUser(s.r.QueryRowContext(ctx,
		`SELECT `+prefixed("u.", userColumns)+`, `+sessionColumns+`
		 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?`, hash),
		sessionDest(&ss, &created, &seen, &expires)...)
	if err != nil {
		return Session{}, User{}, fmt.Errorf("store: session: %w", notFound(err))
	}
	ss.setTimes(created, seen, expires)
	return ss, u, nil
}

// prefixed qualifies each column of a comma-separated list with p.
func prefixed(p, cols string) string {
	fields := strings.Split(cols, ",")
	for i, f := range fields {
		fields[i] = p + strings.TrimSpace(f)
	}
	return strings.Join(fields, ", ")
}

// TouchSession records a use of the session: when, from where, and its new
// (sliding) expiry.
func (s *Store) TouchSession(ctx context.Context, id string, seen, expires time.Time, ip string) error {
	return s.execOne(ctx, "touch session",
		`UPDATE sessions SET last_seen_at = ?, expires_at = ?, ip = ? WHERE id = ?`,
		millis(seen), millis(expires), ip, id)
}

// Sessions lists the user's sessions, most recently used first, without
// their token hashes.
func (s *Store) Sessions(ctx context.Context, userID string) ([]Session, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+sessionColumns+` FROM sessions s WHERE s.user_id = ? ORDER BY s.last_seen_at DESC, s.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: sessions: %w", err)
	}
	defer rows.Close()
	out := []Session{}
	for rows.Next() {
		var ss Session
		var created, seen, expires int64
		if err := rows.Scan(sessionDest(&ss, &created, &seen, &expires)...); err != nil {
			return nil, fmt.Errorf("store: sessions: %w", err)
		}
		ss.setTimes(created, seen, expires)
		ss.TokenHash = ""
		out = append(out, ss)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: sessions: %w", err)
	}
	return out, nil
}

// DeleteSession ends the user's session id; ErrNotFound if the user has no
// such session (another user's session id is not found either).
func (s *Store) DeleteSession(ctx context.Context, userID, id string) error {
	return s.execOne(ctx, "delete session", `DELETE FROM sessions WHERE id = ? AND user_id = ?`, id, userID)
}

// DeleteUserSessions ends every session of the user except keep ("" ends
// all) and returns how many ended.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, keep string) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id <> ?`, userID, keep)
	if err != nil {
		return 0, fmt.Errorf("store: delete sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: delete sessions: %w", err)
	}
	return n, nil
}

// PruneSessions deletes the user's sessions that expired by now or were last
// seen before idleSince.
func (s *Store) PruneSessions(ctx context.Context, userID string, now, idleSince time.Time) error {
	if _, err := s.w.ExecContext(ctx,
		`DELETE FROM sessions WHERE user_id = ? AND (expires_at <= ? OR last_seen_at < ?)`,
		userID, millis(now), millis(idleSince)); err != nil {
		return fmt.Errorf("store: prune sessions: %w", err)
	}
	return nil
}

// Personal API tokens.

// CreateUserToken stores t; a zero CreatedAt is set to now.
func (s *Store) CreateUserToken(ctx context.Context, t UserToken) error {
	if t.ID == "" || t.TokenHash == "" || t.UserID == "" {
		return errors.New("store: create user token: empty id, token hash or user")
	}
	_, err := s.w.ExecContext(ctx,
		`INSERT INTO user_tokens (id, token_hash, user_id, name, created_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?)`,
		t.ID, t.TokenHash, t.UserID, t.Name, millis(s.stamp(t.CreatedAt)), optToMillis(t.LastUsedAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("store: create user token: %w", ErrExists)
	}
	if err != nil {
		return fmt.Errorf("store: create user token: %w", err)
	}
	return nil
}

// UserTokenByHash returns the token with that hash and its user.
func (s *Store) UserTokenByHash(ctx context.Context, hash string) (UserToken, User, error) {
	var t UserToken
	var created, used int64
	u, err := scanUser(s.r.QueryRowContext(ctx,
		`SELECT `+prefixed("u.", userColumns)+`, t.id, t.token_hash, t.user_id, t.name, t.created_at, t.last_used_at
		 FROM user_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?`, hash),
		&t.ID, &t.TokenHash, &t.UserID, &t.Name, &created, &used)
	if err != nil {
		return UserToken{}, User{}, fmt.Errorf("store: user token: %w", notFound(err))
	}
	t.CreatedAt, t.LastUsedAt = fromMillis(created), optMillis(used)
	return t, u, nil
}

// UserTokens lists the user's tokens, oldest first, without their hashes.
func (s *Store) UserTokens(ctx context.Context, userID string) ([]UserToken, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT id, user_id, name, created_at, last_used_at FROM user_tokens WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: user tokens: %w", err)
	}
	defer rows.Close()
	out := []UserToken{}
	for rows.Next() {
		var t UserToken
		var created, used int64
		if err := rows.Scan(&t.ID, &t.UserID, &t.Name, &created, &used); err != nil {
			return nil, fmt.Errorf("store: user tokens: %w", err)
		}
		t.CreatedAt, t.LastUsedAt = fromMillis(created), optMillis(used)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: user tokens: %w", err)
	}
	return out, nil
}

// TouchUserToken records when the token was last used.
func (s *Store) TouchUserToken(ctx context.Context, id string, at time.Time) error {
	return s.execOne(ctx, "touch user token", `UPDATE user_tokens SET last_used_at = ? WHERE id = ?`, millis(at), id)
}

// DeleteUserToken revokes the user's token id; ErrNotFound if the user has
// no such token.
func (s *Store) DeleteUserToken(ctx context.Context, userID, id string) error {
	return s.execOne(ctx, "delete user token", `DELETE FROM user_tokens WHERE id = ? AND user_id = ?`, id, userID)
}

// Invitations.

const inviteColumns = `id, token_hash, role, created_by, created_at, expires_at, used_at, used_by`

func scanInvite(row scanner) (Invite, error) {
	var inv Invite
	var created, expires, used int64
	if err := row.Scan(&inv.ID, &inv.TokenHash, &inv.Role, &inv.CreatedBy, &created, &expires, &used, &inv.UsedBy); err != nil {
		return Invite{}, err
	}
	inv.CreatedAt, inv.ExpiresAt, inv.UsedAt = fromMillis(created), fromMillis(expires), optMillis(used)
	return inv, nil
}

// CreateInvite stores inv; a zero CreatedAt is set to now.
// PruneInvites deletes the invitations used or expired before cutoff: the
// list an admin sees keeps the recent ones, and the table does not grow for
// ever. It returns how many went.
func (s *Store) PruneInvites(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM invites WHERE (used_at <> 0 AND used_at < ?) OR expires_at < ?`,
		millis(cutoff), millis(cutoff))
	if err != nil {
		return 0, fmt.Errorf("store: prune invites: %w", err)
	}
	return res.RowsAffected()
}

func (s *Store) CreateInvite(ctx context.Context, inv Invite) error {
	if inv.ID == "" || inv.TokenHash == "" || inv.Role == "" {
		return errors.New("store: create invite: empty id, token hash or role")
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO invites (`+inviteColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		inv.ID, inv.TokenHash, inv.Role, inv.CreatedBy, millis(s.stamp(inv.CreatedAt)), millis(inv.ExpiresAt),
		optToMillis(inv.UsedAt), inv.UsedBy)
	if isUniqueViolation(err) {
		return fmt.Errorf("store: create invite: %w", ErrExists)
	}
	if err != nil {
		return fmt.Errorf("store: create invite: %w", err)
	}
	return nil
}

// Invites lists invitations, newest first, without their token hashes.
func (s *Store) Invites(ctx context.Context) ([]Invite, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+inviteColumns+` FROM invites ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("store: invites: %w", err)
	}
	defer rows.Close()
	out := []Invite{}
	for rows.Next() {
		inv, err := scanInvite(rows)
		if err != nil {
			return nil, fmt.Errorf("store: invites: %w", err)
		}
		inv.TokenHash = ""
		out = append(out, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: invites: %w", err)
	}
	return out, nil
}

// DeleteInvite withdraws an invitation; ErrNotFound if there is none.
func (s *Store) DeleteInvite(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete invite", `DELETE FROM invites WHERE id = ?`, id)
}

// AcceptInvite uses the unused, unexpired invitation with that token hash to
// create u with the invitation's role, in one transaction: the invitation is
// spent only if the user is created, and only once even when two requests
// race. It returns ErrNotFound for an unknown, used or expired invitation and
// the CreateUser errors for a clash.
func (s *Store) AcceptInvite(ctx context.Context, hash string, now time.Time, u User) (User, error) {
	u.CreatedAt = s.stamp(u.CreatedAt)
	t, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return User{}, fmt.Errorf("store: accept invite: %w", err)
	}
	defer t.Rollback()
	// The UPDATE takes the row lock first, so of two racing accepts the
	// second finds used_at already set and matches nothing.
	res, err := t.ExecContext(ctx,
		`UPDATE invites SET used_at = ?, used_by = ? WHERE token_hash = ? AND used_at = 0 AND expires_at > ?`,
		millis(now), u.ID, hash, millis(now))
	if err != nil {
		return User{}, fmt.Errorf("store: accept invite: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return User{}, fmt.Errorf("store: accept invite: %w", err)
	} else if n == 0 {
		return User{}, fmt.Errorf("store: accept invite: %w", ErrNotFound)
	}
	if err := t.QueryRowContext(ctx, `SELECT role FROM invites WHERE token_hash = ?`, hash).Scan(&u.Role); err != nil {
		return User{}, fmt.Errorf("store: accept invite: %w", err)
	}
	if err := checkUser(u); err != nil {
		return User{}, fmt.Errorf("store: accept invite: %w", err)
	}
	if err := insertUser(ctx, t, u); err != nil {
		return User{}, fmt.Errorf("store: accept invite: %w", err)
	}
	if err := t.Commit(); err != nil {
		return User{}, fmt.Errorf("store: accept invite: %w", err)
	}
	return u, nil
}

// LiveCredentials returns the ids of the sessions not yet expired at now
// and of the API tokens, of users who are not disabled, and the visitors
// whose token is not expired: what a connection
// opened with a credential needs to stay open. (Sessions also end when idle;
// a connection in use is not idle, so that is not asked here.)
func (s *Store) LiveCredentials(ctx context.Context, now time.Time) (map[string]bool, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.disabled = ? AND s.expires_at > ?
		 UNION ALL
		 SELECT t.id FROM user_tokens t JOIN users u ON u.id = t.user_id WHERE u.disabled = ?
		 UNION ALL
		 SELECT v.id FROM visitors v WHERE v.expires_at > ?`,
		false, millis(now), false, millis(now))
	if err != nil {
		return nil, fmt.Errorf("store: live credentials: %w", err)
	}
	defer rows.Close()
	live := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: live credentials: %w", err)
		}
		live[id] = true
	}
	return live, rows.Err()
}
