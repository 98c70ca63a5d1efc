package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// db is a *sql.DB whose queries are written once, with ? placeholders, for both
// SQLite and PostgreSQL: on PostgreSQL they are rewritten to $1, $2, ... The
// rewrite is cached, since the same few dozen query strings repeat.
type db struct {
	*sql.DB
	pg bool
}

// tx is a transaction of a db, rewriting placeholders the same way.
type tx struct {
	*sql.Tx
	pg bool
}

func (d *db) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return d.DB.ExecContext(ctx, rebind(d.pg, q), args...)
}

func (d *db) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return d.DB.QueryContext(ctx, rebind(d.pg, q), args...)
}

func (d *db) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return d.DB.QueryRowContext(ctx, rebind(d.pg, q), args...)
}

func (d *db) BeginTx(ctx context.Context, opts *sql.TxOptions) (*tx, error) {
	t, err := d.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &tx{Tx: t, pg: d.pg}, nil
}

func (t *tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, rebind(t.pg, q), args...)
}

func (t *tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(ctx, rebind(t.pg, q), args...)
}

func (t *tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(ctx, rebind(t.pg, q), args...)
}

var rebound sync.Map // query -> PostgreSQL form

// rebind turns ? placeholders into $n for PostgreSQL. Queries never contain a
// literal ? in a string, so a plain scan is enough.
func rebind(pg bool, q string) string {
	if !pg || !strings.Contains(q, "?") {
		return q
	}
	if r, ok := rebound.Load(q); ok {
		return r.(string)
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	r := b.String()
	rebound.Store(q, r)
	return r
}

// lockKey serialises the transactions that pass the same key, until they end.
// SQLite needs nothing: its write transactions are serial already. PostgreSQL
// takes a transaction-scoped advisory lock, so "read the max, insert max+1"
// cannot run twice at once.
func (s *Store) lockKey(ctx context.Context, t *tx, key string) error {
	if !s.pg {
		return nil
	}
	_, err := t.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`, key)
	return err
}

// isUniqueViolation reports whether err is a unique or primary key
// violation, in either database.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// exists turns a unique violation into ErrExists and leaves other errors be.
func exists(err error) error {
	if err != nil && isUniqueViolation(err) {
		return ErrExists
	}
	return err
}
