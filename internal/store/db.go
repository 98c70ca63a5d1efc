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
//
// On SQLite, statements are also prepared once and kept: parsing and
// planning a query costs more than running most of ours. (pgx keeps a
// statement cache of its own on each PostgreSQL connection.)
type db struct {
	*sql.DB
	pg        bool
	stmts     sync.Map // query -> *sql.Stmt (SQLite)
	preparing sync.Map // query -> true while prepared in the background
}

// stmt returns the prepared statement for q, preparing it the first time.
func (d *db) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := d.stmts.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := d.DB.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if prev, loaded := d.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// Close closes the prepared statements, then the database.
func (d *db) Close() error {
	d.stmts.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
	return d.DB.Close()
}

// tx is a transaction of a db, rewriting placeholders the same way.
type tx struct {
	*sql.Tx
	d *db
}

func (d *db) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if d.pg {
		return d.DB.ExecContext(ctx, rebind(true, q), args...)
	}
	st, err := d.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (d *db) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if d.pg {
		return d.DB.QueryContext(ctx, rebind(true, q), args...)
	}
	st, err := d.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (d *db) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if d.pg {
		return d.DB.QueryRowContext(ctx, rebind(true, q), args...)
	}
	st, err := d.stmt(ctx, q)
	if err != nil {
		// A Row carrying the error: QueryRow on a closed database gives one.
		return d.DB.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (d *db) BeginTx(ctx context.Context, opts *sql.TxOptions) (*tx, error) {
	t, err := d.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &tx{Tx: t, d: d}, nil
}

// prepared returns the database's prepared statement for q bound to the
// transaction's connection, or nil when q has not been prepared yet. It never
// prepares through the pool itself: the write pool has one connection, and
// the transaction holds it. Instead it prepares q in the background, which
// waits until the transaction has released the connection.
func (t *tx) prepared(ctx context.Context, q string) *sql.Stmt {
	if st, ok := t.d.stmts.Load(q); ok {
		return t.Tx.StmtContext(ctx, st.(*sql.Stmt))
	}
	if _, busy := t.d.preparing.LoadOrStore(q, true); !busy {
		go func() {
			defer t.d.preparing.Delete(q)
			t.d.stmt(context.Background(), q)
		}()
	}
	return nil
}

func (t *tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if t.d.pg {
		return t.Tx.ExecContext(ctx, rebind(true, q), args...)
	}
	if st := t.prepared(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, q, args...)
}

func (t *tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if t.d.pg {
		return t.Tx.QueryContext(ctx, rebind(true, q), args...)
	}
	if st := t.prepared(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, q, args...)
}

func (t *tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if t.d.pg {
		return t.Tx.QueryRowContext(ctx, rebind(true, q), args...)
	}
	if st := t.prepared(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, q, args...)
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
